// The key and value a trace id stands for, the same for every target.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace discache::trace {

// 16 bytes for ids below 10^12: "key:" and 12 digits.
inline std::string key_for(std::uint64_t id) {
  char key[32];
  std::snprintf(key, sizeof key, "key:%012llu",
                static_cast<unsigned long long>(id % 1'000'000'000'000ULL));
  return key;
}

// `size` bytes that depend on the id, so a wrong value would be noticed.
inline std::string value_for(std::uint64_t id, std::size_t size) {
  std::string value(size, 'v');
  for (std::size_t i = 0; i < size; ++i) {
    value[i] = static_cast<char>('a' + (id + i) % 26);
  }
  return value;
}

}  // namespace discache::trace
