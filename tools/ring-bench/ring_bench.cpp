// discache-ring-bench: the cost of HashRing::owners(key, 2), which every client
// operation pays to pick its nodes, for small, medium and large clusters.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "hash_ring.h"

namespace {

constexpr char kUsage[] =
    "Usage: discache-ring-bench [--keys N] [--reps N] [--vnodes N]\n"
    "\n"
    "Times HashRing::owners(key, 2) over pre-generated random 16-byte keys for\n"
    "rings of 3, 10 and 100 nodes, and prints the median nanoseconds per lookup.\n"
    "\n"
    "  --keys N    keys looked up per repetition (default 2000000)\n"
    "  --reps N    repetitions; the median is reported (default 5)\n"
    "  --vnodes N  points per node on the ring (default 512, as the client)\n"
    "  --help      show this text\n";

constexpr std::size_t kKeyBytes = 16;
constexpr std::array<std::size_t, 3> kClusterSizes = {3, 10, 100};
// Replicas per key in the target deployment (N = 2).
constexpr std::size_t kReplicas = 2;

using Key = std::array<char, kKeyBytes>;

struct Options {
  std::size_t keys = 2'000'000;
  std::size_t reps = 5;
  std::uint32_t vnodes = discache::HashRing::kDefaultVnodes;
  bool help = false;
};

template <typename Number>
std::optional<Number> parse_positive(std::string_view text) {
  Number value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0) {
    return std::nullopt;
  }
  return value;
}

// The options, or a one-line reason the command line is not usable.
std::expected<Options, std::string> parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
    if (arg != "--keys" && arg != "--reps" && arg != "--vnodes") {
      return std::unexpected("unknown option: " + arg);
    }
    if (i + 1 >= argc) {
      return std::unexpected(arg + " needs a value");
    }
    const std::string_view value = argv[++i];
    bool ok = false;
    if (arg == "--keys") {
      const auto keys = parse_positive<std::size_t>(value);
      ok = keys.has_value();
      options.keys = keys.value_or(0);
    } else if (arg == "--reps") {
      const auto reps = parse_positive<std::size_t>(value);
      ok = reps.has_value();
      options.reps = reps.value_or(0);
    } else {
      const auto vnodes = parse_positive<std::uint32_t>(value);
      ok = vnodes.has_value();
      options.vnodes = vnodes.value_or(0);
    }
    if (!ok) {
      return std::unexpected(arg + " needs a positive number, got '" + std::string(value) + "'");
    }
  }
  return options;
}

// Arbitrary bytes, like real keys, from a fixed seed so every run looks up
// the same keys.
std::vector<Key> make_keys(std::size_t count) {
  std::mt19937_64 random(42);
  std::vector<Key> keys(count);
  for (Key& key : keys) {
    for (std::size_t i = 0; i < kKeyBytes; i += sizeof(std::uint64_t)) {
      const std::uint64_t bits = random();
      std::memcpy(key.data() + i, &bits, sizeof bits);
    }
  }
  return keys;
}

std::string_view view_of(const Key& key) {
  return {key.data(), key.size()};
}

struct Timing {
  double ns_per_key;  // median over the repetitions
  // Folds every lookup's result and is printed, so the calls cannot be
  // optimized away.
  std::uint64_t checksum;
};

// Times `lookup` over all keys, `reps` times.
template <typename Lookup>
Timing time_lookups(const std::vector<Key>& keys, std::size_t reps, Lookup lookup) {
  std::vector<double> runs;
  std::uint64_t checksum = 0;
  for (std::size_t r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (const Key& key : keys) {
      checksum += lookup(view_of(key));
    }
    const auto stop = std::chrono::steady_clock::now();
    const std::chrono::duration<double, std::nano> elapsed = stop - start;
    runs.push_back(elapsed.count() / static_cast<double>(keys.size()));
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2], checksum};
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    std::fprintf(stderr, "discache-ring-bench: %s\n%s", options.error().c_str(), kUsage);
    return 2;
  }
  if (options->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  const std::vector<Key> keys = make_keys(options->keys);
  std::printf(
      "discache-ring-bench: %zu keys of %zu bytes, %u vnodes per node, median of %zu runs\n",
      options->keys, kKeyBytes, options->vnodes, options->reps);

  // The hash alone, to show how much of a lookup is hashing and how much is
  // the search; it does not depend on the ring, so it is measured once.
  const Timing hash = time_lookups(
      keys, options->reps, [](std::string_view key) { return discache::HashRing::hash_key(key); });
  std::uint64_t checksum = hash.checksum;
  std::printf("hash_key alone: %.1f ns\n", hash.ns_per_key);
  std::printf("%6s %8s %18s\n", "nodes", "points", "ns/owners(key,2)");
  for (const std::size_t node_count : kClusterSizes) {
    std::vector<std::string> names;
    for (std::size_t n = 0; n < node_count; ++n) {
      names.push_back("node-" + std::to_string(n));
    }
    const discache::HashRing ring(std::move(names), options->vnodes);
    const Timing owners = time_lookups(keys, options->reps, [&ring](std::string_view key) {
      std::array<std::uint32_t, kReplicas> out{};
      const std::size_t found = ring.owners(key, out);
      return found + out[0] + out[1];
    });
    checksum += owners.checksum;
    std::printf("%6zu %8zu %18.1f\n", node_count, node_count * options->vnodes, owners.ns_per_key);
  }
  std::printf("checksum %llu\n", static_cast<unsigned long long>(checksum));
  return 0;
}
