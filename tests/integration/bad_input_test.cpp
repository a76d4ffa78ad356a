// Bad input is refused with exit 2 (or an error value) and a message, and
// never disturbs the nodes that are running.
#include <doctest/doctest.h>

#include "ctl_command.h"
#include "expected_text.h"
#include "held_port.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

bool one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The cluster still answers a get through discache-ctl and through a Client.
void check_still_serves(LocalCluster& cluster) {
  auto run = run_ctl({"--seed", cluster.seed_address(), "get", "sentinel"});
  INFO("get after the bad input: ", run);
  CHECK(run.exit_code() == 0);
  CHECK(run.out == "still here\n");
  auto client = cluster.connect_client();
  REQUIRE_MESSAGE(client, why(client));
  CHECK(client->get("sentinel").value_or("(missing)") == "still here");
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    INFO("node ", cluster.node(n).name());
    CHECK(cluster.node(n).running());
  }
}

}  // namespace

TEST_CASE("bad addresses, unreachable seeds and a busy port are refused; the cluster serves on") {
  ClusterOptions options;
  options.nodes = 2;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  {
    auto put = run_ctl({"--seed", cluster->seed_address(), "put", "sentinel", "still here"});
    REQUIRE_MESSAGE(put.exit_code() == 0, put);
  }

  SUBCASE("discache-ctl with an unparsable --seed or --node exits 2 naming the address") {
    for (const char* address : {"not-an-address", "127.0.0.1:", "127.0.0.1:99999", ":7400",
                                "127.0.0.1:0", "[::1", "127.0.0.1:12ab"}) {
      for (const char* flag : {"--seed", "--node"}) {
        auto run = run_ctl({flag, address, "get", "sentinel"}, std::nullopt, 10s);
        INFO(flag, " ", address, ": ", run);
        CHECK(run.exit_code() == 2);
        CHECK(contains(run.err, "invalid_argument"));
        CHECK(contains(run.err, "bad address"));
        CHECK(one_line(run.err));
      }
    }
    check_still_serves(*cluster);
  }

  SUBCASE("discache-node with an unparsable address or flag exits 2 with a message") {
    const std::string node_binary = executable_from_env("DISCACHE_NODE");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--listen", "not-an-address"},
             {"--listen", "127.0.0.1:99999"},
             {"--listen", "127.0.0.1:0", "--seed", "nowhere"},
             {"--listen", "127.0.0.1:0", "--seed", "127.0.0.1:0"},
             {"--listen", "127.0.0.1:0", "--replicas", "0"},
             {"--listen", "127.0.0.1:0", "--max-value-bytes", "lots"},
             {"--listen", "127.0.0.1:0", "--no-such-flag"},
         }) {
      std::vector<std::string> argv{node_binary};
      argv.insert(argv.end(), args.begin(), args.end());
      auto run = run_command(argv, std::nullopt, 10s);
      INFO(run);
      CHECK(run.exit_code() == 2);
      CHECK_FALSE(run.err.empty());
      CHECK_FALSE(contains(run.err, "listening on"));
    }
    auto run = run_command({node_binary, "--listen", "bogus"}, std::nullopt, 10s);
    CHECK(contains(run.err, "bad address 'bogus'"));
    check_still_serves(*cluster);
  }

  SUBCASE("an unreachable seed: discache-ctl exits 2 and Client::connect gives no_seed") {
    auto refused = HeldPort::open(HeldPort::Mode::refuse);
    REQUIRE_MESSAGE(refused, why(refused));

    const auto start = Clock::now();
    auto run = run_ctl({"--seed", refused->address(), "get", "sentinel"}, std::nullopt, 30s);
    INFO(run);
    CHECK(run.exit_code() == 2);
    CHECK(contains(run.err, "no_seed"));
    CHECK(one_line(run.err));
    CHECK(Clock::now() - start < 10s);

    discache::ClientOptions client_options;
    client_options.seeds = {refused->address()};
    auto client = discache::Client::connect(client_options);
    REQUIRE_FALSE(client);
    CHECK(client.error().code == Errc::no_seed);
    CHECK_FALSE(client.error().message.empty());

    // An unreachable seed first in the list is skipped.
    client_options.seeds = {refused->address(), cluster->seed_address()};
    auto second_seed = discache::Client::connect(client_options);
    REQUIRE_MESSAGE(second_seed, why(second_seed));
    CHECK(second_seed->get("sentinel").value_or("") == "still here");
    auto ctl_second = run_ctl({"--seed", refused->address(), "--seed", cluster->seed_address(),
                               "get", "sentinel"});
    CHECK(ctl_second.exit_code() == 0);

    check_still_serves(*cluster);
  }

  SUBCASE("a seed that accepts but never answers: no_seed within the timeouts, no hang") {
    auto silent = HeldPort::open(HeldPort::Mode::silent);
    REQUIRE_MESSAGE(silent, why(silent));

    discache::ClientOptions client_options;
    client_options.seeds = {silent->address()};
    client_options.connect_timeout = 300ms;
    client_options.deadline = 300ms;
    const auto start = Clock::now();
    auto client = discache::Client::connect(client_options);
    const auto took = Clock::now() - start;
    REQUIRE_FALSE(client);
    CHECK(client.error().code == Errc::no_seed);
    CHECK(took < 5s);

    auto run = run_ctl({"--seed", silent->address(), "--timeout", "500ms", "get", "sentinel"},
                       std::nullopt, 30s);
    INFO(run);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code() == 2);
    CHECK(contains(run.err, "no_seed"));
    check_still_serves(*cluster);
  }

  SUBCASE("a second node on a port already in use exits 2 with a message") {
    NodeConfig config;
    config.name = "intruder";
    config.port = cluster->node(0).port();
    NodeProcess intruder(config);
    auto started = intruder.start();
    REQUIRE_FALSE(started);
    INFO(started.error());
    REQUIRE(intruder.last_exit());
    CHECK(intruder.last_exit()->exited_with(2));
    CHECK(contains(intruder.log(), "cannot listen on 127.0.0.1:" + std::to_string(config.port)));
    CHECK(one_line(intruder.log().substr(0, intruder.log().find("[harness]"))));
    check_still_serves(*cluster);
  }
}
