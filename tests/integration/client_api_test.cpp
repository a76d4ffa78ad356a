// The Client API end to end against real nodes.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "expected_text.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;

namespace {

// The node-side value limit: small, so a value over it still passes the
// client's own 1 MiB check and is refused by the node itself.
constexpr std::size_t kNodeMaxValue = 4096;

std::string value_for(int key_index) {
  // Values of varying length (up to ~1 KiB) carrying their own key.
  return "value-of-" + std::to_string(key_index) + ":" +
         std::string(static_cast<std::size_t>(key_index % 997), static_cast<char>('a' + key_index % 26));
}

// The first error a worker saw, kept for the assertion message.
class FirstError {
 public:
  void record(std::string what) {
    std::lock_guard lock(mutex_);
    ++count_;
    if (first_.empty()) {
      first_ = std::move(what);
    }
  }
  int count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string first() const {
    std::lock_guard lock(mutex_);
    return first_;
  }

 private:
  mutable std::mutex mutex_;
  int count_ = 0;
  std::string first_;
};

}  // namespace

TEST_CASE("Client put/get/has_key/del of 1000 keys from 8 threads; errors are values") {
  // One copy per key: this test is about the API, not replication, and exact
  // read-your-writes and item counts need a single owner.
  ClusterOptions cluster_options;
  cluster_options.replicas = 1;
  cluster_options.node_args = {"--max-value-bytes", std::to_string(kNodeMaxValue)};
  auto cluster = LocalCluster::start(cluster_options);
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, why(client));

  SUBCASE("1000 keys from 8 threads: every value reads back") {
    constexpr int kThreads = 8;
    constexpr int kKeys = 1000;
    const auto deadline = Clock::now() + 60s;  // bounds the loops in time as well as count
    FirstError errors;
    std::atomic<int> verified{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t]() {
        auto fail = [&](int i, const std::string& what) {
          errors.record("key " + std::to_string(i) + ": " + what);
        };
        // Thread t owns keys t, t+8, t+16, ...
        for (int i = t; i < kKeys && Clock::now() < deadline; i += kThreads) {
          const std::string key = "api-key-" + std::to_string(i);
          if (auto put = client->put(key, value_for(i)); !put) {
            fail(i, "put: " + put.error().describe());
          }
        }
        for (int i = t; i < kKeys && Clock::now() < deadline; i += kThreads) {
          const std::string key = "api-key-" + std::to_string(i);
          auto got = client->get_item(key);
          if (!got) {
            fail(i, "get: " + got.error().describe());
            continue;
          }
          if (got->value != value_for(i) || got->version == 0) {
            fail(i, "get returned a wrong value or version 0");
            continue;
          }
          auto has = client->has_key(key);
          if (!has || !*has) {
            fail(i, "has_key is not true after put");
            continue;
          }
          ++verified;
        }
        // Delete the even keys; odd keys must survive.
        for (int i = t; i < kKeys && Clock::now() < deadline; i += kThreads) {
          const std::string key = "api-key-" + std::to_string(i);
          if (i % 2 == 0) {
            if (auto del = client->del(key); !del) {
              fail(i, "del: " + del.error().describe());
            }
            auto has = client->has_key(key);
            auto got = client->get(key);
            if (!has || *has || got || !got.error().is(Errc::not_found)) {
              fail(i, "the key is still there after del");
            }
          } else {
            auto got = client->get(key);
            if (!got || *got != value_for(i)) {
              fail(i, "an odd key was lost");
            }
          }
        }
      });
    }
    for (auto& w : workers) {
      w.join();
    }
    INFO("first error: ", errors.first());
    CHECK(errors.count() == 0);
    CHECK(verified.load() == kKeys);
    CHECK(Clock::now() < deadline);

    // All three nodes took part: the keys spread over the ring.
    auto stats = client->stats();
    REQUIRE(stats.size() == 3);
    std::uint64_t items = 0;
    for (const auto& s : stats) {
      INFO("node ", s.name);
      CHECK_FALSE(s.error);
      CHECK(s.items > 0);
      items += s.items;
    }
    CHECK(items == kKeys / 2);
  }

  SUBCASE("a missing key is not_found for get, false for has_key, fine for del") {
    auto got = client->get("no-such-key");
    REQUIRE_FALSE(got);
    CHECK(got.error().code == Errc::not_found);
    auto item = client->get_item("no-such-key");
    REQUIRE_FALSE(item);
    CHECK(item.error().code == Errc::not_found);
    auto has = client->has_key("no-such-key");
    REQUIRE(has);
    CHECK_FALSE(*has);
    CHECK(client->del("no-such-key"));
  }

  SUBCASE("too large: refused with the limit in the message, and the nodes keep serving") {
    REQUIRE(client->put("sized", "small and fine"));

    // Over the node's --max-value-bytes: the node refuses it.
    auto node_refused = client->put("sized", std::string(kNodeMaxValue + 1, 'n'));
    REQUIRE_FALSE(node_refused);
    CHECK(node_refused.error().code == Errc::too_large);
    CHECK(node_refused.error().message.find(std::to_string(kNodeMaxValue)) != std::string::npos);

    // Over the client's own max_value_bytes (1 MiB): refused before sending.
    auto client_refused = client->put("sized", std::string(1024 * 1024 + 1, 'c'));
    REQUIRE_FALSE(client_refused);
    CHECK(client_refused.error().code == Errc::too_large);
    CHECK(client_refused.error().message.find("1048576") != std::string::npos);

    // An oversized key, on any operation.
    const std::string long_key(1025, 'k');
    auto key_refused = client->get(long_key);
    REQUIRE_FALSE(key_refused);
    CHECK(key_refused.error().code == Errc::too_large);
    CHECK(key_refused.error().message.find("1024") != std::string::npos);

    // Nothing was clobbered and the owner still serves.
    auto kept = client->get("sized");
    REQUIRE_MESSAGE(kept, why(kept));
    CHECK(*kept == "small and fine");
    CHECK(client->put("sized", std::string(kNodeMaxValue, 'x')));
    CHECK(client->get("sized").value_or("") == std::string(kNodeMaxValue, 'x'));
  }

  SUBCASE("an empty key is invalid_argument for every operation") {
    auto get = client->get("");
    REQUIRE_FALSE(get);
    CHECK(get.error().code == Errc::invalid_argument);
    auto put = client->put("", "v");
    REQUIRE_FALSE(put);
    CHECK(put.error().code == Errc::invalid_argument);
    auto del = client->del("");
    REQUIRE_FALSE(del);
    CHECK(del.error().code == Errc::invalid_argument);
    auto has = client->has_key("");
    REQUIRE_FALSE(has);
    CHECK(has.error().code == Errc::invalid_argument);
  }

  SUBCASE("a put with a TTL expires; an empty value is a value") {
    REQUIRE(client->put("ttl-key", "brief", discache::PutOptions{300ms}));
    REQUIRE(client->put("empty-value", ""));
    CHECK(client->get("empty-value").value_or("not empty") == "");
    const bool expired = wait_until(
        [&]() {
          auto got = client->get("ttl-key");
          return !got && got.error().is(Errc::not_found);
        },
        10s);
    CHECK(expired);
    CHECK(client->has_key("empty-value").value_or(false));
  }
}
