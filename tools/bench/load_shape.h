// The load both benchmark drivers generate (discache-bench, memcached-bench):
// their shared flags, key names and values, so the two systems see the same
// work.
#pragma once

#include <kj/main.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace discache::bench {

// Every flag the two drivers share. Plain data; any thread once parsed.
struct LoadShape {
  std::uint64_t keys = 100'000;
  std::size_t value_size = 100;
  double get_percent = 90.0;  // --ratio GET:PUT
  double zipf_alpha = 0.0;    // 0: uniform
  unsigned threads = 1;
  unsigned in_flight = 16;    // ops outstanding per thread
  std::size_t multiget = 1;   // keys per get call
  bool blocking = false;      // one blocking call at a time per thread
  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds warmup{1000};
  std::uint64_t random_seed = 1;
  bool preload = true;
  bool preload_only = false;
  bool json = false;
  int server_pid = 0;  // 0: no server measurements

  std::string distribution_name() const;
};

// Registers the shared flags on `builder`, writing into `shape` (which must
// outlive the builder's parsing).
void add_load_shape_options(kj::MainBuilder& builder, LoadShape& shape);
// Checks combinations no single flag can; a reason, or empty when fine.
std::string validate(const LoadShape& shape);

// Keys are exactly 16 bytes, memcached-safe: "k" and 15 digits.
constexpr std::size_t kKeyBytes = 16;
std::string key_name(std::uint64_t index);
void write_key_name(std::uint64_t index, char* out);  // kKeyBytes bytes

// The value stored under key `index`: `size` bytes that differ from key to
// key, so a wrong answer is seen. Printable (memcached's text protocol does
// not care, but logs are easier to read).
void fill_value(std::uint64_t index, char* out, std::size_t size);
std::string value_for(std::uint64_t index, std::size_t size);
bool value_matches(std::uint64_t index, std::string_view value, std::size_t size);

}  // namespace discache::bench
