// A node that crashes and is restarted at once (before its peers declare it
// dead, as a supervisor does) comes back empty under the same name: its
// peers see its new boot id and refill it as for a join, so the next
// failure of another owner loses nothing.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "key_set.h"
#include "local_cluster.h"
#include "sanitizer_build.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// Fast probes, but a dead-after far longer than a restart takes: the
// restarted node is never out of anyone's ring, so only its boot id tells
// its peers it is empty.
ClusterOptions three_nodes_slow_death() {
  ClusterOptions options;
  options.nodes = 3;
  options.replicas = 2;
  options.node_args = {"--probe-interval", "100ms", "--suspect-after", "1s", "--dead-after",
                       "20s"};
  return options;
}

// How many of `keys` the ring places on `name` (no read: a read would
// repair the node and hide a missing refill).
std::uint64_t keys_owned_by(discache::Client& client, const std::vector<std::string>& keys,
                            const std::string& name) {
  std::uint64_t owned = 0;
  for (const auto& key : keys) {
    for (const auto& owner : client.owners(key)) {
      owned += owner.name == name ? 1 : 0;
    }
  }
  return owned;
}

std::uint64_t items_on(discache::Client& client, const std::string& name) {
  for (const auto& s : client.stats()) {
    if (s.name == name && !s.error) {
      return s.items;
    }
  }
  return 0;
}

// RAII: environment for the children spawned while it lives (libfaketime).
class ScopedEnv {
 public:
  explicit ScopedEnv(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {
    for (const auto& [name, value] : vars_) {
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : vars_) {
      ::unsetenv(name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::map<std::string, std::string> vars_;
};

constexpr const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

// Writes keys, SIGKILLs node 1 and restarts it at once (its wall clock
// `clock_offset` off, "" for none), waits until its peers refilled it,
// then SIGKILLs node 2: every key must still read back.
void check_restart_refilled(const std::string& clock_offset) {
  auto cluster = LocalCluster::start(three_nodes_slow_death());
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const auto keys = make_keys(3000);
  {
    auto writer = cluster->connect_client();
    REQUIRE_MESSAGE(writer, writer.error().describe());
    put_all(*writer, keys);
    REQUIRE(wait_until([&]() { return stored_copies(*writer) == 2 * keys.size(); }, 10s));
  }  // no client lives while the environment changes below

  NodeProcess& restarted = cluster->node(1);
  CHECK(restarted.kill().killed_by(SIGKILL));
  const auto killed_at = Clock::now();
  {
    std::optional<ScopedEnv> env;
    if (!clock_offset.empty()) {
      env.emplace(std::map<std::string, std::string>{{"LD_PRELOAD", kFaketime},
                                                     {"FAKETIME", clock_offset},
                                                     {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}});
    }
    auto back = restarted.restart();
    REQUIRE_MESSAGE(back, back.error());
  }
  const auto back_at = Clock::now();
  auto converged = cluster->wait_converged(10s);
  REQUIRE_MESSAGE(converged, converged.error());

  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  const std::uint64_t owned = keys_owned_by(*client, keys, restarted.name());
  REQUIRE(owned > 0);
  std::uint64_t held = 0;
  const bool refilled = wait_until(
      [&]() {
        held = items_on(*client, restarted.name());
        return held >= owned;
      },
      20s);
  INFO("the restarted node holds ", held, " of the ", owned, " keys it owns");
  REQUIRE(refilled);
  const auto ms = [](Clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf("[restart-refill%s] restarted %lld ms after the kill; refilled with %llu keys "
              "%lld ms after the restart\n",
              clock_offset.empty() ? "" : (", clock " + clock_offset).c_str(),
              ms(back_at - killed_at), static_cast<unsigned long long>(held),
              ms(Clock::now() - back_at));
  // Refilled because of its boot id: it was never out of the ring.
  const std::string logs = cluster->logs();
  CHECK(logs.find("refilling " + restarted.name()) != std::string::npos);
  CHECK(logs.find(restarted.name() + " (" + restarted.address() + ") is dead") ==
        std::string::npos);

  // The refill is over once its catch-up has run and the restarted node
  // serves reads again (it misses for a while after its refill copies, in
  // case a client that had not learnt the ring wrote to the old owners
  // only): stats say so with handoff_pending.
  REQUIRE(wait_until(
      [&]() {
        for (const auto& s : client->stats()) {
          if (s.error || s.handoff_pending) {
            return false;
          }
        }
        return true;
      },
      20s));

  // Another owner dies: the keys it shared with the restarted node are
  // only there now.
  CHECK(cluster->node(2).kill().killed_by(SIGKILL));
  auto fresh = cluster->connect_client();
  REQUIRE_MESSAGE(fresh, fresh.error().describe());
  CHECK(unreadable_keys(*fresh, keys) == "");
}

}  // namespace

TEST_CASE("a node SIGKILLed and restarted at once is refilled: a second death loses no key") {
  check_restart_refilled("");
}

// Its incarnation comes from its wall clock: 10 s behind, the new run starts
// below the entry its earlier run left, and must outbid it (it learns that
// entry from the seed's join reply) or peers keep the old one.
TEST_CASE("the same with the restarted node's clock 10 s behind") {
  if (kUnderAddressSanitizer) {
    // libfaketime's preload allocates before ASan's runtime is ready.
    MESSAGE("skipped under AddressSanitizer: LD_PRELOAD of libfaketime conflicts with ASan");
    return;
  }
  if (!std::filesystem::exists(kFaketime)) {
    MESSAGE("skipped: ", kFaketime, " is missing (tools/install-deps.sh installs faketime)");
    return;
  }
  check_restart_refilled("-10s");
}
