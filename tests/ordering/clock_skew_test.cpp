// Writes ordered without trusting wall clocks (issue 14): client processes
// whose clocks are 5 s or an hour off (libfaketime), in both orders, for puts
// and deletes, and nodes whose clocks are off. Every write is reported done,
// and the last acknowledged write is what every later read returns: through
// clients with any clock, and on every owner asked directly.
#include <doctest/doctest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "local_cluster.h"
#include "sanitizer_build.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

constexpr std::size_t kReplicas = 2;

// The skews tried, as libfaketime's FAKETIME offsets; "" is the true clock.
const std::vector<std::string> kSkews = {"-5s", "+5s", "-1h", "+1h"};

// Why these tests cannot run, or "" when they can.
std::string cannot_run() {
  if (kUnderAddressSanitizer) {
    // ASan must be the first library loaded; libfaketime comes in through
    // LD_PRELOAD ahead of it, and ASan aborts ("ASan runtime does not come
    // first in initial library list").
    return "skipped under AddressSanitizer: LD_PRELOAD of libfaketime conflicts with ASan";
  }
  return "";
}

// The argv prefix that runs a program with its wall clock `skew` off ("":
// none). Not the faketime wrapper: it forks, so a signal for the node would
// reach the wrapper only. /usr/bin/env execs, keeping the program's pid.
std::vector<std::string> skewed(const std::string& skew) {
  if (skew.empty()) {
    return {};
  }
  const char* lib = std::getenv("DISCACHE_LIBFAKETIME");
  REQUIRE_MESSAGE((lib != nullptr && *lib != '\0'),
                  "libfaketime not found: install faketime (tools/install-deps.sh)");
  // Only the wall clock: a monotonic clock is per host anyway, and an hour
  // back would put it before boot on a machine that just started.
  return {"/usr/bin/env", std::string("LD_PRELOAD=") + lib, "FAKETIME=" + skew,
          "FAKETIME_DONT_FAKE_MONOTONIC=1"};
}

// One ordering-client process with its clock `skew` off, W = `acks`.
CommandResult run_client(const std::string& skew, const std::string& seed, std::size_t acks,
                         std::vector<std::string> args) {
  std::vector<std::string> argv = skewed(skew);
  argv.push_back(executable_from_env("DISCACHE_ORDERING_CLIENT"));
  argv.insert(argv.end(), {"--seed", seed, "--acks", std::to_string(acks)});
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

// What a read of `key` returns: its value, or nullopt for not found.
using Expected = std::optional<std::string>;

std::string describe(const Expected& value) {
  return value ? "'" + *value + "'" : "not found";
}

std::string describe(const GetResult& got) {
  return got ? "'" + *got + "'" : got.error().describe();
}

bool matches(const GetResult& got, const Expected& expected) {
  return got ? expected == *got : !expected && got.error().is(Errc::not_found);
}

// What each owner of `key` holds, asked directly: "" when all hold
// `expected`, else one line per owner that does not.
std::string owners_off(Client& harness, const std::string& key, const Expected& expected) {
  std::string off;
  const auto owners = harness.owners(key);
  if (owners.size() != kReplicas) {
    return key + " has " + std::to_string(owners.size()) + " owners\n";
  }
  for (const auto& owner : owners) {
    ClientOptions direct;
    direct.seeds = {owner.address};
    direct.direct = true;
    auto node = Client::connect(direct);
    if (!node) {
      off += owner.name + ": " + node.error().describe() + "\n";
      continue;
    }
    const GetResult held = node->get(key);
    if (!matches(held, expected)) {
      off += "owner " + owner.name + " holds " + describe(held) + " for " + key + ", wants " +
             describe(expected) + "\n";
    }
  }
  return off;
}

// Reads `key` from each owner directly, through fresh client processes with
// the true clock and with `skew`, and through `harness` (a long-lived
// client); each must return `expected`. With W < N the last owner may still
// be applying the write: owners get a deadline to agree, then every read
// must return the value at once.
void check_reads(LocalCluster& cluster, Client& harness, const std::string& skew, std::size_t acks,
                 const std::string& key, const Expected& expected) {
  std::string off;
  const bool agree = wait_until(
      [&]() {
        off = owners_off(harness, key, expected);
        return off.empty();
      },
      std::chrono::seconds(acks < kReplicas ? 5 : 0));
  CHECK_MESSAGE(agree, off);
  for (const std::string& clock : {std::string(), skew}) {
    const CommandResult read = run_client(clock, cluster.seed_address(), acks, {"get", key});
    const bool right =
        expected ? read.exit_code() == 0 && read.out == *expected : read.exit_code() == 1;
    CHECK_MESSAGE(right, "get ", key, " (clock ", (clock.empty() ? "true" : clock), ") wants ",
                  describe(expected), ": ", read);
  }
  const GetResult through = harness.get(key);
  CHECK_MESSAGE(matches(through, expected), "harness get ", key, " wants ", describe(expected),
                ", got ", describe(through));
}

// Two writers, one with the true clock and one `skew` off, in both orders,
// for a put then a put or a delete: both writes are acknowledged and the
// second is what every read returns. Uses keys[0..3].
void run_skew_matrix(LocalCluster& cluster, Client& harness, const std::string& skew,
                     std::size_t acks, const std::vector<std::string>& keys) {
  std::size_t next_key = 0;
  for (const bool skewed_first : {true, false}) {
    for (const bool second_deletes : {false, true}) {
      const std::string key = keys.at(next_key++);
      const std::string first_clock = skewed_first ? skew : "";
      const std::string second_clock = skewed_first ? "" : skew;
      CAPTURE(key);
      CAPTURE(acks);
      CAPTURE(first_clock);
      CAPTURE(second_clock);
      const CommandResult first =
          run_client(first_clock, cluster.seed_address(), acks, {"put", key, "first"});
      REQUIRE_MESSAGE(first.exit_code() == 0, "first put: ", first);
      const CommandResult second =
          second_deletes
              ? run_client(second_clock, cluster.seed_address(), acks, {"del", key})
              : run_client(second_clock, cluster.seed_address(), acks, {"put", key, "second"});
      REQUIRE_MESSAGE(second.exit_code() == 0, "the later write must succeed: ", second);
      check_reads(cluster, harness, skew, acks, key,
                  second_deletes ? Expected() : Expected(std::string("second")));
    }
  }
}

// put_if_absent (memcached's add) after a delete, the two from clients with
// different clocks, either way: the add succeeds and its value is what
// every read returns. (An add is decided by one owner, which stamps it above
// a newer delete it holds; the others get background copies, so owners get
// a deadline to agree.)
void run_add_after_delete(LocalCluster& cluster, Client& harness, const std::string& skew,
                          const std::vector<std::string>& keys) {
  std::size_t next_key = 0;
  for (const bool skewed_deletes : {true, false}) {
    const std::string key = keys.at(next_key++);
    const std::string delete_clock = skewed_deletes ? skew : "";
    const std::string add_clock = skewed_deletes ? "" : skew;
    CAPTURE(key);
    CAPTURE(delete_clock);
    CAPTURE(add_clock);
    const CommandResult put =
        run_client(delete_clock, cluster.seed_address(), kReplicas, {"put", key, "first"});
    REQUIRE_MESSAGE(put.exit_code() == 0, "put: ", put);
    const CommandResult del =
        run_client(delete_clock, cluster.seed_address(), kReplicas, {"del", key});
    REQUIRE_MESSAGE(del.exit_code() == 0, "del: ", del);
    const CommandResult add =
        run_client(add_clock, cluster.seed_address(), kReplicas, {"add", key, "added"});
    REQUIRE_MESSAGE(add.exit_code() == 0, "the add after the delete must succeed: ", add);
    check_reads(cluster, harness, skew, 1, key, Expected(std::string("added")));
  }
}

std::vector<std::string> keys_named(const std::string& prefix, std::size_t count) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < count; ++i) {
    keys.push_back(prefix + "-" + std::to_string(i));
  }
  return keys;
}

TEST_CASE("a client with its clock 5 s or 1 h off: its puts and deletes win when they come last") {
  if (const std::string why = cannot_run(); !why.empty()) {
    MESSAGE(why);
    return;
  }
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = kReplicas;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto harness = cluster->connect_client();
  REQUIRE_MESSAGE(harness, harness.error().describe());

  for (const auto& skew : kSkews) {
    // W = N: an acknowledged write is on every owner. W = 1 (the default):
    // the later write still wins everywhere once replicated.
    for (const std::size_t acks : {kReplicas, std::size_t{1}}) {
      run_skew_matrix(*cluster, *harness, skew, acks,
                      keys_named("client" + skew + "-w" + std::to_string(acks), 4));
    }
    run_add_after_delete(*cluster, *harness, skew, keys_named("client" + skew + "-add", 2));
  }
}

TEST_CASE("a node with its clock 5 s or 1 h off: writes through it are ordered the same") {
  if (const std::string why = cannot_run(); !why.empty()) {
    MESSAGE(why);
    return;
  }
  ClusterOptions options;
  options.nodes = 2;
  options.replicas = kReplicas;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());

  // One more node per skew, each living under its own clock.
  std::vector<NodeProcess> skewed_nodes;
  skewed_nodes.reserve(kSkews.size());
  for (std::size_t i = 0; i < kSkews.size(); ++i) {
    NodeConfig config;
    config.name = "skewed-" + std::to_string(i);
    config.seeds = {cluster->seed_address()};
    config.extra_args = {"--replicas", std::to_string(kReplicas)};
    skewed_nodes.emplace_back(config);
    skewed_nodes.back().run_under(skewed(kSkews[i]));
    auto started = skewed_nodes.back().start();
    REQUIRE_MESSAGE(started, started.error());
  }
  auto harness = cluster->connect_client();
  REQUIRE_MESSAGE(harness, harness.error().describe());
  // Every node listed alive by the harness's client: then it routes to all.
  const bool joined = wait_until(
      [&]() {
        std::size_t alive = 0;
        for (const auto& m : harness->members().members) {
          alive += m.state == MemberState::alive ? 1 : 0;
        }
        return alive == options.nodes + kSkews.size();
      },
      std::chrono::seconds(20));
  REQUIRE_MESSAGE(joined, "the skewed nodes did not join\n", cluster->logs());

  for (std::size_t i = 0; i < kSkews.size(); ++i) {
    // Keys the skewed node owns, first or second.
    std::vector<std::string> keys;
    for (std::size_t k = 0; keys.size() < 4 && k < 10000; ++k) {
      const std::string key = "node" + kSkews[i] + "-" + std::to_string(k);
      for (const auto& owner : harness->owners(key)) {
        if (owner.name == skewed_nodes[i].name()) {
          keys.push_back(key);
          break;
        }
      }
    }
    REQUIRE(keys.size() == 4);
    // The clients' clocks are off as much as the node's, either way.
    run_skew_matrix(*cluster, *harness, kSkews[i], kReplicas, keys);
  }
  for (auto& node : skewed_nodes) {
    CHECK_MESSAGE(node.running(), node.name(), " exited:\n", node.log());
  }
}

}  // namespace
}  // namespace discache::testing
