// The integration harness itself: JSON reader, polling, child processes, and
// that nodes never outlive their owner.
#include <doctest/doctest.h>

#include <csignal>
#include <cerrno>

#include "ctl_command.h"
#include "expected_text.h"
#include "json_value.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// Whether a process with this id exists (zombies included).
bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

TEST_CASE("parse_json reads objects, arrays, escapes and numbers") {
  auto doc = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "s": "x\"\\\n\u00e9\ud83d\ude00",
                             "o": {"k": "v"}} )");
  REQUIRE_MESSAGE(doc, why(doc));
  REQUIRE(doc->is_object());
  CHECK(doc->keys() == std::vector<std::string>{"a", "s", "o"});
  const auto& a = (*doc)["a"].items();
  REQUIRE(a.size() == 5);
  CHECK(a[0].as_number() == 1);
  CHECK(a[1].as_number() == -2500);
  CHECK(a[2].as_bool());
  CHECK(a[3].is_bool());
  CHECK_FALSE(a[3].as_bool());
  CHECK(a[4].is_null());
  CHECK((*doc)["s"].as_string() == "x\"\\\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK((*doc)["o"]["k"].as_string() == "v");
  CHECK((*doc)["missing"].is_null());
  CHECK_FALSE(doc->has("missing"));
}

TEST_CASE("parse_json rejects what is not one JSON document") {
  for (const char* bad : {"", "{", "{\"a\" 1}", "[1,]", "01", "1.", "nul", "\"raw\nnewline\"",
                          "{} {}", "\"\\x\"", "inf", "[\"\\ud800\"]"}) {
    INFO("input: ", bad);
    CHECK_FALSE(parse_json(bad));
  }
}

TEST_CASE("wait_until returns as soon as the condition holds, and false at the deadline") {
  int calls = 0;
  const auto start = Clock::now();
  CHECK(wait_until([&]() { return ++calls == 3; }, 5s));
  CHECK(calls == 3);
  CHECK(Clock::now() - start < 1s);

  const auto before = Clock::now();
  CHECK_FALSE(wait_until([]() { return false; }, 150ms));
  const auto waited = Clock::now() - before;
  CHECK(waited >= 150ms);
  CHECK(waited < 2s);
}

TEST_CASE("run_command feeds stdin, captures both streams and the exit code") {
  auto cat = run_command({"/bin/cat"}, std::string("line one\nline two\n"));
  CHECK(cat.exit_code() == 0);
  CHECK(cat.out == "line one\nline two\n");

  // A large input and output: neither pipe may block the other.
  std::string big(1 << 20, 'x');
  auto big_cat = run_command({"/bin/cat"}, big);
  CHECK(big_cat.exit_code() == 0);
  CHECK(big_cat.out.size() == big.size());

  auto missing = run_command({"/nonexistent/program"});
  CHECK(missing.exit_code() == 127);
  CHECK(missing.err.find("execve failed") != std::string::npos);
}

TEST_CASE("run_command kills a command that outlives its timeout") {
  // A node never exits by itself: a stand-in for a hung command.
  const auto start = Clock::now();
  auto hung = run_command({executable_from_env("DISCACHE_NODE"), "--listen", "127.0.0.1:0"},
                          std::nullopt, 300ms);
  CHECK(hung.timed_out);
  CHECK(hung.status.killed_by(SIGKILL));
  CHECK(hung.exit_code() == -1);
  CHECK(Clock::now() - start < 5s);
  CHECK(hung.err.find("listening on 127.0.0.1:") != std::string::npos);
}

TEST_CASE("a NodeProcess stops with exit 0, restarts on its port, and dies with its owner") {
  pid_t last_pid = 0;
  {
    NodeProcess node(NodeConfig{"solo", 0, {}, {}});
    auto started = node.start();
    REQUIRE_MESSAGE(started, why(started));
    INFO(node.log());
    REQUIRE(node.port() != 0);
    CHECK(node.address() == "127.0.0.1:" + std::to_string(node.port()));
    CHECK(node.running());
    const std::string first_address = node.address();

    auto stopped = node.stop();
    REQUIRE(stopped);
    CHECK(stopped->exited_with(0));
    CHECK_FALSE(node.running());
    CHECK(node.log().find("on signal 15") != std::string::npos);

    auto again = node.restart();
    REQUIRE_MESSAGE(again, why(again));
    CHECK(node.address() == first_address);
    CHECK(node.kill().killed_by(SIGKILL));

    // Straight after SIGKILL the port may still be held briefly: restart retries.
    auto third = node.restart();
    REQUIRE_MESSAGE(third, why(third));
    CHECK(node.address() == first_address);
    REQUIRE(node.pid());
    last_pid = *node.pid();
    CHECK(process_exists(last_pid));
  }
  // ~NodeProcess killed and reaped it.
  CHECK_FALSE(process_exists(last_pid));
}

TEST_CASE("a NodeProcess that cannot start reports why") {
  NodeProcess node(NodeConfig{"broken", 0, {}, {"--replicas", "0"}});
  auto started = node.start();
  REQUIRE_FALSE(started);
  CHECK(started.error().find("exit code 2") != std::string::npos);
  CHECK(started.error().find("--replicas") != std::string::npos);
  CHECK_FALSE(node.running());
}

TEST_CASE("a LocalCluster converges and leaves no process behind") {
  std::vector<pid_t> pids;
  {
    ClusterOptions options;
    options.nodes = 2;
    options.name_prefix = "harness";
    auto cluster = LocalCluster::start(options);
    REQUIRE_MESSAGE(cluster, why(cluster));
    INFO(cluster->logs());
    CHECK(cluster->converged());
    CHECK(cluster->find("harness-1") == &cluster->node(1));
    for (std::size_t i = 0; i < cluster->size(); ++i) {
      REQUIRE(cluster->node(i).pid());
      pids.push_back(*cluster->node(i).pid());
    }
    auto client = cluster->connect_client();
    REQUIRE_MESSAGE(client, why(client));
    CHECK(client->members().members.size() == 2);
  }
  REQUIRE(pids.size() == 2);
  for (pid_t pid : pids) {
    CHECK_FALSE(process_exists(pid));
  }
}
