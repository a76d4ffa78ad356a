// Flag values shared by the trace tools, parsed with errors that name the flag.
#pragma once

#include <kj/main.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>

namespace discache::trace {

inline std::optional<std::uint64_t> parse_count(kj::StringPtr arg) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(arg.begin(), arg.end(), value);
  if (ec != std::errc{} || end != arg.end() || arg.size() == 0) {
    return std::nullopt;
  }
  return value;
}

inline std::optional<double> parse_fraction(kj::StringPtr arg) {
  double value = 0;
  auto [end, ec] = std::from_chars(arg.begin(), arg.end(), value);
  if (ec != std::errc{} || end != arg.end() || arg.size() == 0) {
    return std::nullopt;
  }
  return value;
}

}  // namespace discache::trace
