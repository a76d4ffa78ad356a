// The cache engine in a real discache-node process: a memory limit that
// holds under heavy writes, TTLs that end, and size limits with errors that
// name them.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "local_cluster.h"
#include "sanitizer_build.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;
using discache::NodeStats;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// The only node's stats; fails the test when it does not answer.
NodeStats stats_of(discache::Client& client) {
  auto all = client.stats();
  REQUIRE(all.size() == 1);
  REQUIRE_MESSAGE(!all[0].error, all[0].error->describe());
  return all[0];
}

// Value n: `size` letters cycling a..z from letter n % 26. Cut from one
// pattern, not written byte by byte: this test makes 200 MiB of values, and
// test code is unoptimized (and instrumented under the sanitizers).
std::string value_of(std::uint64_t n, std::size_t size) {
  static const std::string pattern = [] {
    std::string p(26 + 64 * 1024, '\0');
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i] = static_cast<char>('a' + i % 26);
    }
    return p;
  }();
  REQUIRE(size <= pattern.size() - 26);
  return pattern.substr(n % 26, size);
}

std::expected<LocalCluster, std::string> one_node(std::vector<std::string> args) {
  ClusterOptions options;
  options.nodes = 1;
  options.name_prefix = "engine";
  options.node_args = std::move(args);
  return LocalCluster::start(options);
}

}  // namespace

TEST_CASE(
    "200 MiB of puts into a 32 MiB node: it stays up, under its limit, with the newest keys") {
  auto cluster = one_node({"--memory", "32MiB"});
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  // Values of 1 to 16 KiB (mixed sizes exercise the allocator's merging and
  // range eviction), 200 MiB in all. Bounded in count and in time.
  std::mt19937_64 rng(11);
  std::uint64_t written = 0;
  std::uint64_t puts = 0;
  const auto deadline = deadline_in(60s);
  while (written < 200 * kMiB && puts < 100'000 && Clock::now() < deadline) {
    const std::size_t size = 1024 + rng() % (15 * 1024);
    auto put = client->put("key-" + std::to_string(puts), value_of(puts, size));
    REQUIRE_MESSAGE(put, "put ", puts, ": ", put.error().describe());
    written += size;
    ++puts;
  }
  REQUIRE_MESSAGE(written >= 200 * kMiB, "only ", written, " bytes written before the deadline");

  CHECK(cluster->node(0).running());
  const NodeStats stats = stats_of(*client);
  CHECK(stats.memory_limit == 32 * kMiB);
  CHECK(stats.memory_used <= stats.memory_limit);
  CHECK(stats.bytes <= stats.memory_limit);
  CHECK(stats.evictions > 0);
  // Items take 97% or more of the budget: the arena is nearly full, not
  // fragmented.
  CHECK(stats.bytes > 31 * kMiB);
  // RSS: the 32 MiB arena, the binary and its libraries (~6 MiB), and
  // buffers of calls in flight. Documented margin (docs/design-engine-
  // draft.md, "RSS margin"): limit + 16 MiB.
  INFO("rss ", stats.rss_bytes, " bytes");
  CHECK(stats.rss_bytes > 0);
  // Under AddressSanitizer the RSS also holds ASan's quarantine of freed
  // memory and shadow memory: the bound says nothing there.
  if (!kUnderAddressSanitizer) {
    CHECK(stats.rss_bytes <= stats.memory_limit + 16 * kMiB);
  }

  // The most recently written keys are all there, with their values.
  for (std::uint64_t n = puts - 100; n < puts; ++n) {
    auto got = client->get("key-" + std::to_string(n));
    REQUIRE_MESSAGE(got, "key-", n, ": ", got.error().describe());
    CHECK(got->size() >= 1024);
    CHECK(*got == value_of(n, got->size()));
  }
  // And the first ones were evicted.
  auto first = client->get("key-0");
  CHECK((!first && first.error().is(Errc::not_found)));
}

TEST_CASE("a put with a ttl of 1 s is served until then and gone after it") {
  auto cluster = one_node({});
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  const auto put_at = Clock::now();
  REQUIRE(client->put("short-lived", "value", discache::PutOptions{.ttl = 1000ms}));
  REQUIRE(client->put("forever", "value"));
  auto fresh = client->get("short-lived");
  // (Only checkable while well inside the second.)
  if (Clock::now() - put_at < 500ms) {
    CHECK(fresh.value_or("(missing)") == "value");
  }
  const bool gone = wait_until(
      [&] {
        auto got = client->get("short-lived");
        return !got && got.error().is(Errc::not_found);
      },
      deadline_in(10s));
  CHECK(gone);
  CHECK(Clock::now() - put_at >= 1000ms);
  CHECK(client->get("forever").value_or("(missing)") == "value");
  CHECK(stats_of(*client).expirations >= 1);
}

TEST_CASE(
    "values over the limits are too_large with a message naming the limit; the node serves on") {
  // 1 MiB of memory: the largest item is 1/8 of it (128 KiB), below
  // --max-value-bytes (1 MiB by default), so both limits can be hit.
  auto cluster = one_node({"--memory", "1MiB", "--max-value-bytes", "200000"});
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("sentinel", "still here"));

  auto over_flag = client->put("big", std::string(200'001, 'x'));
  REQUIRE(!over_flag);
  CHECK(over_flag.error().is(Errc::too_large));
  CHECK_MESSAGE(over_flag.error().message.find("max-value-bytes is 200000") != std::string::npos,
                over_flag.error().message);

  auto over_memory = client->put("big", std::string(150'000, 'x'));
  REQUIRE(!over_memory);
  CHECK(over_memory.error().is(Errc::too_large));
  CHECK_MESSAGE(over_memory.error().message.find("--memory 1 MiB") != std::string::npos,
                over_memory.error().message);
  CHECK_MESSAGE(
      over_memory.error().message.find("largest item is 131072 bytes") != std::string::npos,
      over_memory.error().message);

  CHECK(cluster->node(0).running());
  CHECK(client->get("sentinel").value_or("(missing)") == "still here");
  REQUIRE(client->put("after", std::string(100'000, 'y')));
  CHECK(client->get("after").value_or("").size() == 100'000);
}
