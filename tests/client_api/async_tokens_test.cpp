// The async API with each kind of Asio completion token: a callback bound to
// an io_context's executor, asio::use_future, and asio::use_awaitable in a
// coroutine. Every operation is exercised with each token (get, get_item,
// put, put_if_absent, compare_and_set, del, has_key, multi_get), and every
// completion of a callback or coroutine must run on the io_context's thread,
// never on the client's I/O thread nor inline on the initiating thread.
#include <doctest/doctest.h>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <future>
#include <optional>
#include <sstream>
#include <thread>

#include "local_cluster.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;
using discache::GetResult;

namespace {

// How long one completion may take before we call it lost.
constexpr auto kCompletionTimeout = 10s;

// An io_context run by a thread of its own (the application's event loop).
class AppLoop {
 public:
  AppLoop() : work_(asio::make_work_guard(io_)), thread_([this]() { io_.run(); }) {
    id_ = thread_.get_id();
  }
  ~AppLoop() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }
  std::thread::id thread_id() const { return id_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::thread::id id_;
};

template <typename Result>
struct Completed {
  Result result;
  std::thread::id thread;
};

// Starts an operation with a callback bound to `loop`'s executor and waits
// (with a deadline) for the callback; returns what it got and where it ran.
template <typename Result, typename Start>
std::optional<Completed<Result>> via_callback(AppLoop& loop, Start start) {
  auto promise = std::make_shared<std::promise<Completed<Result>>>();
  auto future = promise->get_future();
  start(asio::bind_executor(loop.io(), [promise](Result result) {
    promise->set_value(Completed<Result>{std::move(result), std::this_thread::get_id()});
  }));
  if (future.wait_for(kCompletionTimeout) != std::future_status::ready) {
    return std::nullopt;  // the callback never ran: a hang
  }
  return future.get();
}

// Waits for a use_future result with a deadline.
template <typename Result>
std::optional<Result> ready(std::future<Result>& future) {
  if (future.wait_for(kCompletionTimeout) != std::future_status::ready) {
    return std::nullopt;
  }
  return future.get();
}

std::string describe(const discache::Error& error) { return error.describe(); }

}  // namespace

TEST_CASE("callbacks bound to an io_context run there, with each operation's result") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  // The loop outlives the client: a completion never meets a destroyed io_context.
  AppLoop loop;
  REQUIRE(loop.thread_id() != std::this_thread::get_id());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  // Every completion: it came back, on the loop's thread.
  auto on_loop = [&](const auto& done) {
    REQUIRE_MESSAGE(done, "the callback did not run within the timeout");
    CHECK(done->thread == loop.thread_id());
  };

  auto put = via_callback<discache::VoidResult>(
      loop, [&](auto cb) { client->async_put("cb:k", "v1", {}, cb); });
  on_loop(put);
  CHECK(put->result.has_value());

  auto got = via_callback<GetResult>(loop, [&](auto cb) { client->async_get("cb:k", cb); });
  on_loop(got);
  CHECK(got->result.value_or("(error)") == "v1");

  auto again = via_callback<discache::VoidResult>(
      loop, [&](auto cb) { client->async_put_if_absent("cb:k", "v2", {}, cb); });
  on_loop(again);
  REQUIRE_FALSE(again->result);
  CHECK(again->result.error().code == Errc::exists);

  auto fresh = via_callback<discache::VoidResult>(
      loop, [&](auto cb) { client->async_put_if_absent("cb:fresh", "new", {}, cb); });
  on_loop(fresh);
  CHECK(fresh->result.has_value());

  auto item = via_callback<std::expected<discache::Item, discache::Error>>(
      loop, [&](auto cb) { client->async_get_item("cb:k", cb); });
  on_loop(item);
  REQUIRE_MESSAGE(item->result, describe(item->result.error()));
  CHECK(item->result->value == "v1");
  const std::uint64_t v1 = item->result->version;
  CHECK(v1 != 0);

  auto cas = via_callback<discache::VersionResult>(
      loop, [&](auto cb) { client->async_compare_and_set("cb:k", "v3", v1, {}, cb); });
  on_loop(cas);
  REQUIRE_MESSAGE(cas->result, describe(cas->result.error()));
  CHECK(*cas->result != v1);
  CHECK(*cas->result != 0);

  auto stale = via_callback<discache::VersionResult>(
      loop, [&](auto cb) { client->async_compare_and_set("cb:k", "v4", v1, {}, cb); });
  on_loop(stale);
  REQUIRE_FALSE(stale->result);
  CHECK(stale->result.error().code == Errc::version_mismatch);

  // A callback on the application's loop may make blocking calls: it is not
  // the client's thread, so they work (on the client's thread they would
  // fail with would_deadlock).
  std::optional<GetResult> blocking;  // written on the loop thread before `cb` runs
  auto has = via_callback<discache::BoolResult>(loop, [&](auto cb) {
    client->async_has_key(
        "cb:k", asio::bind_executor(loop.io(), [&, cb](discache::BoolResult r) mutable {
          blocking = client->get("cb:k");
          cb(std::move(r));
        }));
  });
  on_loop(has);
  CHECK(has->result.value_or(false) == true);
  REQUIRE(blocking);
  INFO("blocking get inside the callback: ", *blocking ? "ok" : describe(blocking->error()));
  CHECK(blocking->value_or("(error)") == "v3");  // not would_deadlock

  auto del = via_callback<discache::VoidResult>(loop,
                                                [&](auto cb) { client->async_del("cb:k", cb); });
  on_loop(del);
  CHECK(del->result.has_value());

  auto gone = via_callback<discache::BoolResult>(
      loop, [&](auto cb) { client->async_has_key("cb:k", cb); });
  on_loop(gone);
  REQUIRE(gone->result.has_value());
  CHECK(*gone->result == false);

  auto missing = via_callback<GetResult>(loop, [&](auto cb) { client->async_get("cb:k", cb); });
  on_loop(missing);
  REQUIRE_FALSE(missing->result);
  CHECK(missing->result.error().code == Errc::not_found);

  auto cas_missing = via_callback<discache::VersionResult>(
      loop, [&](auto cb) { client->async_compare_and_set("cb:k", "x", v1, {}, cb); });
  on_loop(cas_missing);
  REQUIRE_FALSE(cas_missing->result);
  CHECK(cas_missing->result.error().code == Errc::not_found);

  // Bad input fails before anything is sent, yet still completes on the
  // loop's thread (posted, not called inline on this thread).
  auto invalid = via_callback<GetResult>(loop, [&](auto cb) { client->async_get("", cb); });
  on_loop(invalid);
  REQUIRE_FALSE(invalid->result);
  CHECK(invalid->result.error().code == Errc::invalid_argument);

  auto many = via_callback<std::vector<GetResult>>(loop, [&](auto cb) {
    client->async_multi_get({"cb:fresh", "cb:k", "", "cb:fresh"}, cb);
  });
  on_loop(many);
  REQUIRE(many->result.size() == 4);
  CHECK(many->result[0].value_or("(error)") == "new");
  REQUIRE_FALSE(many->result[1]);
  CHECK(many->result[1].error().code == Errc::not_found);
  REQUIRE_FALSE(many->result[2]);
  CHECK(many->result[2].error().code == Errc::invalid_argument);
  CHECK(many->result[3].value_or("(error)") == "new");

  auto none = via_callback<std::vector<GetResult>>(
      loop, [&](auto cb) { client->async_multi_get({}, cb); });
  on_loop(none);
  CHECK(none->result.empty());
}

TEST_CASE("asio::use_future returns a std::future of each operation's result") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  std::future<discache::VoidResult> put = client->async_put("fut:k", "v1", {}, asio::use_future);
  auto stored = ready(put);
  REQUIRE_MESSAGE(stored, "use_future: put never completed");
  CHECK(stored->has_value());

  std::future<GetResult> get = client->async_get("fut:k", asio::use_future);
  auto got = ready(get);
  REQUIRE(got);
  CHECK(got->value_or("(error)") == "v1");

  auto absent = client->async_put_if_absent("fut:k", "v2", {}, asio::use_future);
  auto exists = ready(absent);
  REQUIRE(exists);
  REQUIRE_FALSE(*exists);
  CHECK(exists->error().code == Errc::exists);

  auto fresh_future = client->async_put_if_absent("fut:fresh", "new", {}, asio::use_future);
  auto fresh = ready(fresh_future);
  REQUIRE(fresh);
  CHECK(fresh->has_value());

  auto item_future = client->async_get_item("fut:k", asio::use_future);
  auto item = ready(item_future);
  REQUIRE(item);
  REQUIRE_MESSAGE(*item, describe(item->error()));
  CHECK((*item)->value == "v1");
  const std::uint64_t v1 = (*item)->version;

  auto cas_future = client->async_compare_and_set("fut:k", "v3", v1, {}, asio::use_future);
  auto cas = ready(cas_future);
  REQUIRE(cas);
  REQUIRE_MESSAGE(*cas, describe(cas->error()));
  CHECK(**cas != v1);

  auto stale_future = client->async_compare_and_set("fut:k", "v4", v1, {}, asio::use_future);
  auto stale = ready(stale_future);
  REQUIRE(stale);
  REQUIRE_FALSE(*stale);
  CHECK(stale->error().code == Errc::version_mismatch);

  auto has_future = client->async_has_key("fut:k", asio::use_future);
  auto has = ready(has_future);
  REQUIRE(has);
  CHECK(has->value_or(false) == true);

  auto del_future = client->async_del("fut:k", asio::use_future);
  auto del = ready(del_future);
  REQUIRE(del);
  CHECK(del->has_value());

  auto gone_future = client->async_has_key("fut:k", asio::use_future);
  auto gone = ready(gone_future);
  REQUIRE(gone);
  REQUIRE(gone->has_value());
  CHECK(**gone == false);

  auto cas_missing_future = client->async_compare_and_set("fut:k", "x", v1, {}, asio::use_future);
  auto cas_missing = ready(cas_missing_future);
  REQUIRE(cas_missing);
  REQUIRE_FALSE(*cas_missing);
  CHECK(cas_missing->error().code == Errc::not_found);

  auto many_future =
      client->async_multi_get({"fut:fresh", "fut:k", "", "fut:fresh"}, asio::use_future);
  auto many = ready(many_future);
  REQUIRE(many);
  REQUIRE(many->size() == 4);
  CHECK((*many)[0].value_or("(error)") == "new");
  REQUIRE_FALSE((*many)[1]);
  CHECK((*many)[1].error().code == Errc::not_found);
  REQUIRE_FALSE((*many)[2]);
  CHECK((*many)[2].error().code == Errc::invalid_argument);
  CHECK((*many)[3].value_or("(error)") == "new");

  // Many futures in flight at once each get their own result.
  std::vector<std::future<discache::VoidResult>> puts;
  for (int i = 0; i < 100; ++i) {
    puts.push_back(client->async_put("fut:many:" + std::to_string(i), std::to_string(i), {},
                                     asio::use_future));
  }
  std::vector<std::future<GetResult>> gets;
  for (int i = 0; i < 100; ++i) {
    gets.push_back(client->async_get("fut:many:" + std::to_string(i), asio::use_future));
  }
  for (int i = 0; i < 100; ++i) {
    auto p = ready(puts[static_cast<std::size_t>(i)]);
    auto g = ready(gets[static_cast<std::size_t>(i)]);
    REQUIRE(p);
    REQUIRE(g);
    CHECK(p->has_value());
    CHECK(g->value_or("(error)") == std::to_string(i));
  }
}

namespace {

// What the coroutine saw: every mismatch, and whether it ever resumed off the
// io_context's thread.
struct CoroutineReport {
  std::vector<std::string> problems;
  int resumptions = 0;
};

asio::awaitable<CoroutineReport> session(discache::Client& client, std::thread::id loop_thread) {
  CoroutineReport report;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) {
      report.problems.push_back(what);
    }
  };
  auto resumed = [&](const char* op) {
    ++report.resumptions;
    expect(std::this_thread::get_id() == loop_thread,
           std::string("resumed off the io_context's thread after ") + op);
  };
  auto code_of = [](const auto& result) {
    return result ? std::string("ok") : std::string(to_string(result.error().code));
  };

  auto put = co_await client.async_put("co:k", "v1", {}, asio::use_awaitable);
  resumed("put");
  expect(put.has_value(), "put: " + code_of(put));

  auto got = co_await client.async_get("co:k", asio::use_awaitable);
  resumed("get");
  expect(got.value_or("(error)") == "v1", "get: " + code_of(got));

  auto exists = co_await client.async_put_if_absent("co:k", "v2", {}, asio::use_awaitable);
  resumed("put_if_absent");
  expect(!exists && exists.error().is(Errc::exists), "put_if_absent: " + code_of(exists));

  auto fresh = co_await client.async_put_if_absent("co:fresh", "new", {}, asio::use_awaitable);
  resumed("put_if_absent (fresh)");
  expect(fresh.has_value(), "put_if_absent (fresh): " + code_of(fresh));

  auto item = co_await client.async_get_item("co:k", asio::use_awaitable);
  resumed("get_item");
  expect(item && item->value == "v1" && item->version != 0, "get_item: " + code_of(item));
  const std::uint64_t v1 = item ? item->version : 0;

  auto cas = co_await client.async_compare_and_set("co:k", "v3", v1, {}, asio::use_awaitable);
  resumed("compare_and_set");
  expect(cas && *cas != v1 && *cas != 0, "compare_and_set: " + code_of(cas));

  auto stale = co_await client.async_compare_and_set("co:k", "v4", v1, {}, asio::use_awaitable);
  resumed("compare_and_set (stale)");
  expect(!stale && stale.error().is(Errc::version_mismatch),
         "compare_and_set (stale): " + code_of(stale));

  auto now = co_await client.async_get("co:k", asio::use_awaitable);
  resumed("get after cas");
  expect(now.value_or("(error)") == "v3", "get after cas: " + code_of(now));

  auto has = co_await client.async_has_key("co:k", asio::use_awaitable);
  resumed("has_key");
  expect(has.value_or(false) == true, "has_key: " + code_of(has));

  auto del = co_await client.async_del("co:k", asio::use_awaitable);
  resumed("del");
  expect(del.has_value(), "del: " + code_of(del));

  auto gone = co_await client.async_has_key("co:k", asio::use_awaitable);
  resumed("has_key after del");
  expect(gone.has_value() && *gone == false, "has_key after del: " + code_of(gone));

  auto missing = co_await client.async_get("co:k", asio::use_awaitable);
  resumed("get after del");
  expect(!missing && missing.error().is(Errc::not_found), "get after del: " + code_of(missing));

  auto cas_missing =
      co_await client.async_compare_and_set("co:k", "x", v1, {}, asio::use_awaitable);
  resumed("compare_and_set (missing)");
  expect(!cas_missing && cas_missing.error().is(Errc::not_found),
         "compare_and_set (missing): " + code_of(cas_missing));

  // Built before the co_await: g++ 12 rejects an initializer list inside it.
  std::vector<std::string> keys{"co:fresh", "co:k", "", "co:fresh"};
  auto many = co_await client.async_multi_get(std::move(keys), asio::use_awaitable);
  resumed("multi_get");
  expect(many.size() == 4, "multi_get: wrong size");
  if (many.size() == 4) {
    expect(many[0].value_or("(error)") == "new", "multi_get[0]: " + code_of(many[0]));
    expect(!many[1] && many[1].error().is(Errc::not_found), "multi_get[1]: " + code_of(many[1]));
    expect(!many[2] && many[2].error().is(Errc::invalid_argument),
           "multi_get[2]: " + code_of(many[2]));
    expect(many[3].value_or("(error)") == "new", "multi_get[3]: " + code_of(many[3]));
  }
  co_return report;
}

}  // namespace

TEST_CASE("asio::use_awaitable: a coroutine awaits each operation and resumes on its io_context") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  AppLoop loop;  // outlives the client
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  std::future<CoroutineReport> done =
      asio::co_spawn(loop.io(), session(*client, loop.thread_id()), asio::use_future);
  REQUIRE_MESSAGE(done.wait_for(30s) == std::future_status::ready,
                  "the coroutine did not finish within 30 s");
  const CoroutineReport report = done.get();
  std::ostringstream problems;
  for (const auto& p : report.problems) {
    problems << p << "\n";
  }
  INFO(problems.str());
  CHECK(report.problems.empty());
  CHECK(report.resumptions == 14);
}
