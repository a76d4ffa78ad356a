#include "load_shape.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

#include "duration_text.h"

namespace discache::bench {
namespace {

template <typename Number>
std::optional<Number> parse_number(kj::StringPtr text) {
  Number value{};
  const char* end = text.begin() + text.size();
  auto [ptr, ec] = std::from_chars(text.begin(), end, value);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return value;
}

kj::MainBuilder::Validity parse_ratio(kj::StringPtr text, LoadShape& shape) {
  std::string_view s(text.cStr(), text.size());
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    return "--ratio wants GET:PUT, e.g. 9:1 or 100:0";
  }
  auto get = parse_number<double>(kj::heapString(s.substr(0, colon).data(), colon));
  auto put = parse_number<double>(kj::heapString(s.substr(colon + 1).data(), s.size() - colon - 1));
  if (!get || !put || *get < 0 || *put < 0 || *get + *put <= 0) {
    return "--ratio wants two non-negative numbers GET:PUT, not both 0";
  }
  shape.get_percent = 100.0 * *get / (*get + *put);
  return true;
}

kj::MainBuilder::Validity parse_distribution(kj::StringPtr text, LoadShape& shape) {
  if (text == "uniform") {
    shape.zipf_alpha = 0;
    return true;
  }
  if (text.startsWith("zipf:")) {
    auto alpha = parse_number<double>(kj::heapString(text.slice(5)));
    if (alpha && *alpha > 0 && *alpha < 10) {
      shape.zipf_alpha = *alpha;
      return true;
    }
  }
  return "--distribution is uniform or zipf:ALPHA (0 < ALPHA < 10), e.g. zipf:0.99";
}

kj::MainBuilder::Validity parse_duration(kj::StringPtr text, std::chrono::milliseconds& out,
                                         bool allow_zero) {
  auto ms = parse_duration_ms(text.cStr());
  if (!ms || (!allow_zero && *ms == 0)) {
    return "wants a duration such as 500ms, 5s or 1m";
  }
  out = std::chrono::milliseconds(*ms);
  return true;
}

// Values walk this 64-character alphabet with an LCG seeded by the key index.
constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

struct ValueBytes {
  std::uint64_t x;
  explicit ValueBytes(std::uint64_t index) : x(index * 0x9E3779B97F4A7C15ull) {}
  char next() {
    const char c = kAlphabet[(x >> 58) & 63];
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return c;
  }
};

}  // namespace

std::string LoadShape::distribution_name() const {
  if (zipf_alpha <= 0) {
    return "uniform";
  }
  char text[32];
  snprintf(text, sizeof(text), "zipf:%g", zipf_alpha);
  return text;
}

void add_load_shape_options(kj::MainBuilder& builder, LoadShape& shape) {
  builder
      .addOptionWithArg({"keys"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<std::uint64_t>(a);
            if (!n || *n == 0 || *n >= 1'000'000'000'000'000ull) return "--keys wants 1 to 10^15";
            shape.keys = *n;
            return true;
          }, "<n>", "Distinct keys, each exactly 16 bytes (default 100000).")
      .addOptionWithArg({"value-size"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<std::size_t>(a);
            if (!n || *n > (1u << 20)) return "--value-size wants 0 to 1048576 bytes";
            shape.value_size = *n;
            return true;
          }, "<bytes>", "Size of every value (default 100).")
      .addOptionWithArg({"ratio"}, [&shape](kj::StringPtr a) { return parse_ratio(a, shape); },
                        "<get:put>", "Gets to puts, e.g. 9:1 (default) or 100:0 for gets only.")
      .addOptionWithArg({"distribution"},
                        [&shape](kj::StringPtr a) { return parse_distribution(a, shape); },
                        "<uniform|zipf:alpha>",
                        "How keys are picked (default uniform). zipf:0.99 makes a few keys hot; "
                        "hot ranks are scattered over the key space.")
      .addOptionWithArg({"threads"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<unsigned>(a);
            if (!n || *n == 0 || *n > 1024) return "--threads wants 1 to 1024";
            shape.threads = *n;
            return true;
          }, "<n>", "Load threads (default 1).")
      .addOptionWithArg({"in-flight"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<unsigned>(a);
            if (!n || *n == 0 || *n > 65536) return "--in-flight wants 1 to 65536";
            shape.in_flight = *n;
            return true;
          }, "<n>", "Operations outstanding per thread (default 16).")
      .addOptionWithArg({"multiget"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<std::size_t>(a);
            if (!n || *n == 0 || *n > 1024) return "--multiget wants 1 to 1024";
            shape.multiget = *n;
            return true;
          }, "<n>", "Keys per get call (default 1); each call counts as one op.")
      .addOption({"blocking"}, [&shape]() -> kj::MainBuilder::Validity {
            shape.blocking = true;
            return true;
          }, "One blocking call at a time per thread (implies --in-flight 1).")
      .addOptionWithArg({"duration"}, [&shape](kj::StringPtr a) {
            return parse_duration(a, shape.duration, false);
          }, "<duration>", "Measured window, e.g. 5s (default 5s).")
      .addOptionWithArg({"warmup"}, [&shape](kj::StringPtr a) {
            return parse_duration(a, shape.warmup, true);
          }, "<duration>", "Load before the measured window, not counted (default 1s).")
      .addOptionWithArg({"random-seed"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<std::uint64_t>(a);
            if (!n) return "--random-seed wants a number";
            shape.random_seed = *n;
            return true;
          }, "<n>", "Seed of the key and op choices: same seed, same sequence per thread "
                    "(default 1).")
      .addOption({"no-preload"}, [&shape]() -> kj::MainBuilder::Validity {
            shape.preload = false;
            return true;
          }, "Do not store every key before the run (they are there from an earlier run).")
      .addOption({"preload-only"}, [&shape]() -> kj::MainBuilder::Validity {
            shape.preload_only = true;
            return true;
          }, "Store every key, report the preload (and RSS per item), and exit.")
      .addOptionWithArg({"server-pid"}, [&shape](kj::StringPtr a) -> kj::MainBuilder::Validity {
            auto n = parse_number<int>(a);
            if (!n || *n <= 0) return "--server-pid wants a process id";
            shape.server_pid = *n;
            return true;
          }, "<pid>", "The server's process on this machine: report its CPU time per op over "
                      "the measured window and its RSS growth per item over the preload.")
      .addOption({"json"}, [&shape]() -> kj::MainBuilder::Validity {
            shape.json = true;
            return true;
          }, "Print the final report as one JSON object (tools/bench/bench_report.capnp).");
}

std::string validate(const LoadShape& shape) {
  if (shape.preload_only && !shape.preload) {
    return "--preload-only and --no-preload contradict each other";
  }
  if (shape.multiget > shape.keys) {
    return "--multiget is larger than --keys";
  }
  return {};
}

void write_key_name(std::uint64_t index, char* out) {
  out[0] = 'k';
  for (int i = static_cast<int>(kKeyBytes) - 1; i >= 1; --i) {
    out[i] = static_cast<char>('0' + index % 10);
    index /= 10;
  }
}

std::string key_name(std::uint64_t index) {
  std::string key(kKeyBytes, '\0');
  write_key_name(index, key.data());
  return key;
}

void fill_value(std::uint64_t index, char* out, std::size_t size) {
  ValueBytes bytes(index);
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = bytes.next();
  }
}

std::string value_for(std::uint64_t index, std::size_t size) {
  std::string value(size, '\0');
  fill_value(index, value.data(), size);
  return value;
}

bool value_matches(std::uint64_t index, std::string_view value, std::size_t size) {
  if (value.size() != size) {
    return false;
  }
  ValueBytes bytes(index);
  for (char c : value) {
    if (c != bytes.next()) {
      return false;
    }
  }
  return true;
}

}  // namespace discache::bench
