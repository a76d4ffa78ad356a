// Blocking calls made on the client's own I/O thread. Async completions never
// run there (they are posted to the handler's executor, see
// async_tokens_test.cpp), but a Client::on_members_changed listener does: a
// blocking call from it must fail with Errc::would_deadlock, not hang.
#include <doctest/doctest.h>

#include <asio/use_future.hpp>

#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "child_process.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

// What the listener's blocking calls returned: each one's error code, or
// nullopt when it did not fail.
struct ListenerCalls {
  std::thread::id thread;
  std::size_t members_in_list = 0;
  std::vector<std::pair<std::string, std::optional<Errc>>> results;
  bool loader_ran = false;
  std::future<discache::VoidResult> async_put;  // issued from the listener
};

template <typename Result>
std::optional<Errc> code_of(const Result& result) {
  if (result) {
    return std::nullopt;
  }
  return result.error().code;
}

std::string name_of(const std::optional<Errc>& code) {
  return code ? std::string(to_string(*code)) : std::string("success");
}

}  // namespace

TEST_CASE("blocking calls from an on_members_changed listener fail with would_deadlock") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("seen", "before"));

  discache::Client& c = *client;
  auto calls = std::make_shared<std::promise<ListenerCalls>>();
  auto done = calls->get_future();
  auto once = std::make_shared<std::once_flag>();
  c.on_members_changed([&c, calls, once](const discache::MemberList& list) {
    std::call_once(*once, [&]() {
      ListenerCalls out;
      out.thread = std::this_thread::get_id();
      out.members_in_list = list.members.size();
      auto record = [&](const char* what, std::optional<Errc> code) {
        out.results.emplace_back(what, code);
      };
      record("get", code_of(c.get("seen")));
      record("get_item", code_of(c.get_item("seen")));
      record("put", code_of(c.put("seen", "from the listener")));
      record("put_if_absent", code_of(c.put_if_absent("new-key", "v")));
      record("compare_and_set", code_of(c.compare_and_set("seen", "v", 1)));
      record("del", code_of(c.del("seen")));
      record("has_key", code_of(c.has_key("seen")));
      const std::vector<std::string> keys{"seen", "other"};
      for (const auto& r : c.multi_get(keys)) {
        record("multi_get", code_of(r));
      }
      const std::vector<discache::KeyValue> items{{"a", "1"}, {"b", "2"}};
      for (const auto& r : c.multi_put(items)) {
        record("multi_put", code_of(r));
      }
      for (const auto& r : c.multi_delete(keys)) {
        record("multi_delete", code_of(r));
      }
      record("get_or_load", code_of(c.get_or_load("seen", [&](std::string_view) -> discache::GetResult {
        out.loader_ran = true;
        return "loaded";
      })));
      // An async call does not block: it is fine from here, and completes
      // once the listener has returned.
      out.async_put = c.async_put("from-listener", "async", {}, asio::use_future);
      calls->set_value(std::move(out));
    });
  });

  // A node joining changes the member list; the listener runs on the
  // client's I/O thread. (Registration itself is queued to that thread, so
  // join only once it has surely been applied: a call round trip later.)
  REQUIRE(c.get("seen"));
  auto added = cluster->add_node();
  REQUIRE_MESSAGE(added, added.error());

  REQUIRE_MESSAGE(done.wait_for(20s) == std::future_status::ready,
                  "the listener did not finish within 20 s: a blocking call hung");
  ListenerCalls out = done.get();
  CHECK(out.thread != std::this_thread::get_id());
  CHECK(out.members_in_list >= 3);
  CHECK(out.results.size() == 14);
  for (const auto& [what, code] : out.results) {
    INFO(what, " from the listener returned ", name_of(code));
    CHECK((code && *code == Errc::would_deadlock));
  }
  CHECK_FALSE(out.loader_ran);

  // The client's thread is fine afterwards: the async put from the listener
  // completed, nothing the refused calls would have written was written, and
  // blocking calls work again from this thread.
  REQUIRE(out.async_put.wait_for(10s) == std::future_status::ready);
  CHECK(out.async_put.get().has_value());
  CHECK(c.get("from-listener").value_or("(error)") == "async");
  CHECK(c.get("seen").value_or("(error)") == "before");
  auto absent = c.get("new-key");
  REQUIRE_FALSE(absent);
  CHECK(absent.error().code == Errc::not_found);
}

// ---- bug pin: the cluster functions hang when called from the listener -----
//
// members(), owners(), ring(), stats(), locate() and drain() hand their work
// to the I/O thread and wait for it, without the would_deadlock check the
// key operations have: called from a listener (on that very thread) they
// wait forever, and the client's I/O thread with them. Each probe below runs
// in a child process (this binary, re-executed with --test-case=... and
// --no-skip) so that a hang costs a bounded wait instead of the whole suite.

namespace {

// In the child: starts a cluster, registers a listener that makes `call`,
// adds a node, and waits for the listener to finish. Exits at once with
// status 3 if the listener hung (the client cannot be destroyed then).
template <typename Call>
void probe_listener_call(const char* what, Call call) {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  discache::Client& c = *client;
  auto result = std::make_shared<std::promise<std::string>>();
  auto done = result->get_future();
  auto once = std::make_shared<std::once_flag>();
  c.on_members_changed([&c, result, once, call](const discache::MemberList&) {
    std::call_once(*once, [&]() { result->set_value(call(c)); });
  });
  REQUIRE(c.put("probe", "v"));  // the registration has reached the I/O thread
  auto added = cluster->add_node();
  REQUIRE_MESSAGE(added, added.error());
  if (done.wait_for(5s) != std::future_status::ready) {
    std::fprintf(stderr, "PROBE HUNG: %s from an on_members_changed listener\n", what);
    std::fflush(stderr);
    std::_Exit(3);
  }
  std::fprintf(stderr, "PROBE RETURNED: %s -> %s\n", what, done.get().c_str());
}

std::string describe_error(const std::optional<discache::Error>& e) {
  return e ? e->describe() : std::string("no error");
}

}  // namespace

TEST_CASE("probe: members() from a listener" * doctest::skip()) {
  probe_listener_call("members()", [](discache::Client& c) {
    return std::to_string(c.members().members.size()) + " members";
  });
}
TEST_CASE("probe: owners() from a listener" * doctest::skip()) {
  probe_listener_call("owners()", [](discache::Client& c) {
    return std::to_string(c.owners("k").size()) + " owners";
  });
}
TEST_CASE("probe: ring() from a listener" * doctest::skip()) {
  probe_listener_call("ring()", [](discache::Client& c) {
    return std::to_string(c.ring().nodes.size()) + " ring nodes";
  });
}
TEST_CASE("probe: stats() from a listener" * doctest::skip()) {
  probe_listener_call("stats()", [](discache::Client& c) {
    auto stats = c.stats();
    return std::to_string(stats.size()) + " entries, first: " +
           (stats.empty() ? "-" : describe_error(stats.front().error));
  });
}
TEST_CASE("probe: locate() from a listener" * doctest::skip()) {
  probe_listener_call("locate()", [](discache::Client& c) {
    auto replicas = c.locate("k");
    return std::to_string(replicas.size()) + " replicas, first: " +
           (replicas.empty() ? "-" : describe_error(replicas.front().error));
  });
}
TEST_CASE("probe: drain() from a listener" * doctest::skip()) {
  probe_listener_call("drain()", [](discache::Client& c) {
    auto drained = c.drain("no-such-node");
    return drained ? std::string("ok") : drained.error().describe();
  });
}

TEST_CASE("regression: members/owners/ring/stats/locate/drain from a listener do not hang") {
  // Each probe in its own child process, all at once, each bounded.
  const std::vector<std::string> probes{"members()", "owners()", "ring()",
                                        "stats()",   "locate()", "drain()"};
  std::vector<ChildProcess> children;
  for (const auto& p : probes) {
    auto child = ChildProcess::spawn(ChildProcess::Options{
        {"/proc/self/exe", "--test-case=probe: " + p + " from a listener", "--no-skip",
         "--no-version"},
        std::nullopt,
        "probe-" + p.substr(0, p.size() - 2)});
    REQUIRE_MESSAGE(child, child.error());
    children.push_back(std::move(*child));
  }
  const auto deadline = deadline_in(60s);
  for (std::size_t i = 0; i < probes.size(); ++i) {
    auto status = children[i].wait_exit(deadline);
    const std::string err = children[i].stderr_text();
    std::string verdict;
    for (const char* marker : {"PROBE HUNG: ", "PROBE RETURNED: "}) {
      if (auto at = err.find(marker); at != std::string::npos) {
        verdict = err.substr(at, err.find('\n', at) - at);
      }
    }
    // Exit status 3: the call hung (PROBE HUNG); other failures show the child's output.
    INFO(probes[i], ": ",
         verdict.empty() ? "no verdict; child output:\n" + children[i].stdout_text() + err
                         : verdict);
    REQUIRE(status);
    CHECK(status->exited_with(0));
  }
}
