// get_or_load: one load per key per process however many callers miss at
// once (singleflight); the value is stored with the TTL and handed to every
// waiter; a loader error reaches every waiter and nothing is stored.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;
using discache::GetResult;

namespace {

// A bounded pool: kThreads threads, each making kCallsPerThread calls.
constexpr int kThreads = 50;
constexpr int kCallsPerThread = 20;
constexpr int kCalls = kThreads * kCallsPerThread;  // 1,000

// Runs `call(thread, i)` kCallsPerThread times on each of kThreads threads,
// all released together. Returns false if the calls did not all finish
// within `limit` (the threads are still joined: each call is bounded by the
// client's deadline).
template <typename Call>
bool run_pool(Call call, std::chrono::milliseconds limit) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t]() {
      while (!go.load()) {
        std::this_thread::yield();
      }
      for (int i = 0; i < kCallsPerThread; ++i) {
        call(t, i);
      }
    });
  }
  go = true;
  for (auto& thread : pool) {
    thread.join();
  }
  return Clock::now() - start < limit;
}

std::uint64_t total_puts(discache::Client& client) {
  std::uint64_t puts = 0;
  for (const auto& s : client.stats()) {
    REQUIRE_FALSE(s.error);
    puts += s.puts;
  }
  return puts;
}

}  // namespace

TEST_CASE("1,000 concurrent get_or_load calls for one missing key run the loader once") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  const std::string key = "report:2025";
  auto before = client->get(key);
  REQUIRE_FALSE(before);
  REQUIRE(before.error().code == Errc::not_found);

  std::atomic<int> loads{0};
  const discache::Client::Loader loader = [&](std::string_view k) -> GetResult {
    ++loads;
    std::this_thread::sleep_for(100ms);  // a slow origin: every caller piles up behind it
    return "loaded:" + std::string(k);
  };
  std::atomic<int> good{0};
  std::mutex first_bad_mutex;
  std::string first_bad;
  const bool in_time = run_pool(
      [&](int, int) {
        auto value = client->get_or_load(key, loader, {.ttl = 60s});
        if (value && *value == "loaded:" + key) {
          ++good;
        } else {
          std::lock_guard lock(first_bad_mutex);
          if (first_bad.empty()) {
            first_bad = value ? "wrong value '" + *value + "'" : value.error().describe();
          }
        }
      },
      60s);
  INFO("first bad result: ", first_bad);
  CHECK(in_time);
  CHECK(loads.load() == 1);
  CHECK(good.load() == kCalls);

  // The value was stored: a plain get sees it, and a later get_or_load does
  // not load again.
  CHECK(client->get(key).value_or("(error)") == "loaded:" + key);
  CHECK(client->get_or_load(key, loader).value_or("(error)") == "loaded:" + key);
  CHECK(loads.load() == 1);
}

TEST_CASE("get_or_load stores the loaded value with the given TTL; a hit never loads") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  std::atomic<int> loads{0};
  const discache::Client::Loader loader = [&](std::string_view) -> GetResult {
    return "load #" + std::to_string(++loads);
  };

  // A key that is there: the loader is not called.
  REQUIRE(client->put("present", "cached"));
  CHECK(client->get_or_load("present", loader).value_or("(error)") == "cached");
  CHECK(loads.load() == 0);

  // Loaded with a 1 s TTL: stored, then gone after it, so the next call loads again.
  CHECK(client->get_or_load("brief", loader, {.ttl = 1s}).value_or("(error)") == "load #1");
  CHECK(client->get("brief").value_or("(error)") == "load #1");
  const bool expired = wait_until(
      [&]() {
        auto got = client->get("brief");
        return !got && got.error().is(Errc::not_found);
      },
      10s);
  CHECK(expired);
  CHECK(client->get_or_load("brief", loader, {.ttl = 1s}).value_or("(error)") == "load #2");
  CHECK(loads.load() == 2);

  // Bad input is refused like any other call, without loading.
  auto empty = client->get_or_load("", loader);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::invalid_argument);
  CHECK(loads.load() == 2);
}

TEST_CASE("a loader error reaches every waiter and nothing is stored") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  const std::string key = "origin-down";
  const discache::Error origin_error{Errc::unavailable, "origin database is down"};
  const std::uint64_t puts_before = total_puts(*client);

  SUBCASE("one wave: 50 concurrent callers share one failing load") {
    // The loader waits until every caller has started (or 5 s), then a
    // little longer so all of them have joined the flight, then fails.
    std::atomic<int> started{0};
    std::atomic<int> loads{0};
    const discache::Client::Loader loader = [&](std::string_view) -> GetResult {
      ++loads;
      wait_until([&]() { return started.load() == kThreads; }, 5s);
      std::this_thread::sleep_for(300ms);
      return std::unexpected(origin_error);
    };
    std::atomic<int> got_error{0};
    std::vector<std::thread> callers;
    std::atomic<bool> go{false};
    for (int t = 0; t < kThreads; ++t) {
      callers.emplace_back([&]() {
        while (!go.load()) {
          std::this_thread::yield();
        }
        ++started;
        auto value = client->get_or_load(key, loader);
        if (!value && value.error().code == origin_error.code &&
            value.error().message == origin_error.message) {
          ++got_error;
        }
      });
    }
    go = true;
    for (auto& c : callers) {
      c.join();
    }
    CHECK(loads.load() == 1);
    CHECK(got_error.load() == kThreads);
  }

  SUBCASE("1,000 calls from 50 threads: every one gets the loader's error") {
    std::atomic<int> loads{0};
    const discache::Client::Loader loader = [&](std::string_view) -> GetResult {
      ++loads;
      std::this_thread::sleep_for(20ms);
      return std::unexpected(origin_error);
    };
    std::atomic<int> got_error{0};
    const bool in_time = run_pool(
        [&](int, int) {
          auto value = client->get_or_load(key, loader);
          if (!value && value.error().code == origin_error.code &&
              value.error().message == origin_error.message) {
            ++got_error;
          }
        },
        60s);
    CHECK(in_time);
    CHECK(got_error.load() == kCalls);
    // Each failed flight ends, so a later caller loads again, but callers
    // that overlap share one load.
    CHECK(loads.load() >= 1);
    CHECK(loads.load() < kCalls);
  }

  // Nothing was stored: no node served a put, and the key is still a miss.
  CHECK(total_puts(*client) == puts_before);
  auto got = client->get(key);
  REQUIRE_FALSE(got);
  CHECK(got.error().code == Errc::not_found);
}

namespace {

// A get_or_load call on a detached thread, so that a hang costs the test a
// bounded wait instead of the suite. Returns the value, the error's code, or
// "exception: ..." when the call threw.
std::shared_future<std::string> call_detached(discache::Client& client, std::string key,
                                              discache::Client::Loader loader) {
  auto promise = std::make_shared<std::promise<std::string>>();
  std::shared_future<std::string> result = promise->get_future().share();
  std::thread([&client, promise, key = std::move(key), loader = std::move(loader)]() {
    try {
      auto value = client.get_or_load(key, loader);
      promise->set_value(value ? *value : "error: " + std::string(to_string(value.error().code)));
    } catch (const std::exception& e) {
      promise->set_value(std::string("exception: ") + e.what());
    }
  }).detach();
  return result;
}

}  // namespace

TEST_CASE("regression: a loader that throws does not wedge its key for later callers") {
  // A loader is application code and may throw. Whatever reaches the caller
  // (the exception or an error), the flight must end: callers waiting on it
  // must be released, and a later get_or_load of the key must load again.
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto connected = cluster->connect_client();
  REQUIRE_MESSAGE(connected, connected.error().describe());
  // On the heap, so that it can be leaked untouched if calls hang in it (below).
  auto client = std::make_unique<discache::Client>(std::move(*connected));

  const std::string key = "throwing-origin";
  const discache::Client::Loader throwing = [](std::string_view) -> GetResult {
    std::this_thread::sleep_for(300ms);
    throw std::runtime_error("origin driver threw");
  };
  auto leader = call_detached(*client, key, throwing);
  std::this_thread::sleep_for(100ms);  // the load is under way
  auto follower = call_detached(*client, key, [](std::string_view) -> GetResult {
    return "follower loaded";
  });
  REQUIRE_MESSAGE(leader.wait_for(5s) == std::future_status::ready,
                  "the leading caller did not return");
  INFO("leader: ", leader.get());

  auto later = call_detached(*client, key, [](std::string_view) -> GetResult {
    return "loaded after the throw";
  });
  const bool follower_done = follower.wait_for(5s) == std::future_status::ready;
  const bool later_done = later.wait_for(5s) == std::future_status::ready;
  CHECK_MESSAGE(follower_done, "a caller waiting on the thrown load hangs");
  CHECK_MESSAGE(later_done, "a later get_or_load of the key hangs: the flight never ended");
  if (follower_done) {
    // Released with the failure (or, at worst, by loading itself).
    INFO("follower: ", follower.get());
    CHECK(follower.get() != "");
  }
  if (later_done) {
    CHECK(later.get() == "loaded after the throw");
  }
  if (!follower_done || !later_done) {
    // Threads are still blocked inside get_or_load on this client: it must
    // not be destroyed (nor moved) under them. Leak it; its I/O thread idles
    // until the process exits, and the stuck threads are detached.
    (void)client.release();
  }
}
