// Nobody gets in without the cookie: clients, discache-ctl and nodes alike.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include "child_process.h"
#include "ctl_command.h"
#include "local_cluster.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

constexpr const char* kCookie = "correct horse battery staple";

// Sets $DISCACHE_COOKIE for this process (and so every child) while alive.
class CookieEnv {
 public:
  explicit CookieEnv(const char* value) { setenv("DISCACHE_COOKIE", value, 1); }
  ~CookieEnv() { unsetenv("DISCACHE_COOKIE"); }
};

TEST_CASE("without the right cookie: unauthenticated, nothing read or written; with it: works") {
  std::optional<LocalCluster> cluster;
  {
    CookieEnv env(kCookie);  // nodes (and the harness's ctl checks) get the cookie
    ClusterOptions options;
    options.nodes = 3;
    auto started = LocalCluster::start(options);
    REQUIRE_MESSAGE(started, started.error());
    cluster.emplace(std::move(*started));
  }
  INFO(cluster->logs());

  // A client with no cookie (none in the environment now) is refused at once.
  auto none = cluster->connect_client();
  REQUIRE_FALSE(none);
  CHECK(none.error().is(Errc::unauthenticated));

  ClientOptions wrong_options;
  wrong_options.cookie = "wrong horse";
  auto wrong = cluster->connect_client(wrong_options);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().is(Errc::unauthenticated));

  // discache-ctl: exit 2 and the error named, for reads and writes, via the
  // ring and via --node.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--seed", cluster->seed_address(), "put", "k", "v"},
           {"--seed", cluster->seed_address(), "get", "k"},
           {"--node", cluster->node(1).address(), "put", "k", "v"},
           {"--node", cluster->node(2).address(), "members"}}) {
    auto run = run_ctl(args);
    CHECK(run.exit_code() == 2);
    CHECK(run.err.find("unauthenticated") != std::string::npos);
  }

  // The right cookie works, and shows that nothing was written before.
  ClientOptions right_options;
  right_options.cookie = kCookie;
  auto client = cluster->connect_client(right_options);
  REQUIRE_MESSAGE(client, client.error().describe());
  for (const auto& s : client->stats()) {
    REQUIRE_FALSE(s.error);
    CHECK(s.items == 0);
    CHECK(s.puts == 0);
    CHECK(s.gets == 0);
  }
  REQUIRE(client->put("k", "v"));
  CHECK(client->get("k") == "v");

  // Each refusal left a log line naming the caller, never the secret.
  const std::string logs = cluster->logs();
  CHECK(logs.find("wrong or missing cookie") != std::string::npos);
  CHECK(logs.find(kCookie) == std::string::npos);
  CHECK(logs.find("wrong horse") == std::string::npos);

  // A cookie file works for discache-ctl too.
  const std::string path = "/tmp/discache-cookie-test-" + std::to_string(getpid());
  {
    std::ofstream file(path);
    file << kCookie << "\n";  // a trailing newline is allowed
  }
  auto with_file = run_ctl({"--seed", cluster->seed_address(), "--cookie-file", path, "get", "k"});
  CHECK(with_file.exit_code() == 0);
  CHECK(with_file.out == "v\n");
  std::remove(path.c_str());
}

TEST_CASE("a node refuses to listen beyond loopback without a cookie, unless --insecure") {
  const std::string node = executable_from_env("DISCACHE_NODE");
  auto refused = run_command({node, "--listen", "0.0.0.0:0"});
  CHECK(refused.exit_code() == 2);
  CHECK(refused.err.find("without a cookie") != std::string::npos);
  CHECK(refused.err.find("--insecure") != std::string::npos);

  auto listening = [](std::string_view log) {
    return log.find("listening on") != std::string_view::npos;
  };
  // Loopback needs no cookie (the quick start relies on it), and --insecure
  // is the explicit way out elsewhere.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {node, "--listen", "127.0.0.1:0"}, {node, "--listen", "0.0.0.0:0", "--insecure"}}) {
    auto child = ChildProcess::spawn({.argv = args, .stdin_data = std::nullopt, .label = "node"});
    REQUIRE(child);
    CHECK(child->wait_for_stderr(listening, deadline_in(std::chrono::seconds(10))));
    child->send_signal(SIGTERM);
    auto status = child->wait_exit(deadline_in(std::chrono::seconds(10)));
    REQUIRE(status);
    CHECK(status->exited_with(0));
  }
}

}  // namespace
}  // namespace discache::testing
