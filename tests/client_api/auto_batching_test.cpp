// Automatic batching: operations that many threads issue at about the same
// time leave as one batch call per node, yet each keeps its own result and
// error, one caller's operations on one key stay in order, and a batch that
// meets a dead node fails only the operations sent to that node.
#include <doctest/doctest.h>

#include <asio/use_future.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;
using discache::Errc;
using discache::GetResult;

namespace {

// How long one future may take before we call it lost (a hang).
constexpr auto kOpTimeout = 15s;

// Problems seen by worker threads, checked on the test's thread (doctest's
// REQUIRE must not throw on a worker).
class Problems {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    ++count_;
    if (first_.size() < 10) {
      first_.push_back(std::move(what));
    }
  }
  int count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string first() const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    for (const auto& p : first_) {
      out << p << "\n";
    }
    return out.str();
  }

 private:
  mutable std::mutex mutex_;
  int count_ = 0;
  std::vector<std::string> first_;
};

// A value written by thread `t` as its `seq`-th write: "t<t>:s<seq>:" and padding.
std::string value_of(int t, int seq) {
  std::string v = "t" + std::to_string(t) + ":s" + std::to_string(seq) + ":";
  v.append(static_cast<std::size_t>(seq % 64), 'x');
  return v;
}

// The writer and sequence number in a value made by value_of.
std::optional<std::pair<int, int>> parse_value(const std::string& v) {
  int t = -1;
  int seq = -1;
  if (std::sscanf(v.c_str(), "t%d:s%d:", &t, &seq) != 2 || v != value_of(t, seq)) {
    return std::nullopt;
  }
  return std::pair{t, seq};
}

template <typename T>
std::optional<T> wait_ready(std::future<T>& future) {
  if (future.wait_for(kOpTimeout) != std::future_status::ready) {
    return std::nullopt;
  }
  return future.get();
}

std::string describe(const discache::Error& e) { return e.describe(); }

struct StatsTotals {
  std::uint64_t calls = 0;
  std::uint64_t batch_calls = 0;
  std::uint64_t ops = 0;  // gets + puts + deletes the nodes served
  std::size_t answered = 0;
};

StatsTotals totals(const std::vector<discache::NodeStats>& stats) {
  StatsTotals t;
  for (const auto& s : stats) {
    if (s.error) {
      continue;
    }
    ++t.answered;
    t.calls += s.calls;
    t.batch_calls += s.batch_calls;
    t.ops += s.gets + s.puts + s.deletes;
  }
  return t;
}

// Node-side value limit: a value over it passes the client's own check
// (1 MiB) and is refused by the node, inside a batch call.
constexpr std::size_t kNodeMaxValue = 4096;

}  // namespace

TEST_CASE("16 threads interleaving puts and gets: per-caller order, one result per op, fewer calls") {
  ClusterOptions cluster_options;
  cluster_options.node_args = {"--max-value-bytes", std::to_string(kNodeMaxValue)};
  auto cluster = LocalCluster::start(cluster_options);  // 3 nodes, 2 replicas per key
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());

  constexpr int kThreads = 16;
  constexpr int kRounds = 25;
  constexpr int kOwnKeys = 3;
  constexpr int kSharedKeys = 4;

  const StatsTotals before = totals(client->stats());
  REQUIRE(before.answered == 3);

  const auto deadline = Clock::now() + 60s;  // bounds the loops in time as well as count
  Problems problems;
  std::atomic<std::uint64_t> ops_sent{0};  // valid ops that reached a node
  std::atomic<int> rounds_done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t]() {
      while (!go.load()) {
        std::this_thread::yield();  // start together, so the threads' ops overlap
      }
      auto own = [t](int k) { return "own:" + std::to_string(t) + ":" + std::to_string(k); };
      auto fail = [&](int round, const std::string& what) {
        problems.add("thread " + std::to_string(t) + " round " + std::to_string(round) + ": " +
                     what);
      };
      int seq = 0;
      for (int round = 0; round < kRounds && Clock::now() < deadline; ++round) {
        // One burst, issued without waiting: puts and gets of this thread's
        // own keys (each get right after the put it must observe), shared
        // keys every thread writes, and ops that must fail on their own.
        struct OwnRead {
          std::string key;
          int at_least;  // the seq of the put just before it
          std::future<GetResult> got;
        };
        std::vector<std::future<discache::VoidResult>> puts;
        std::vector<OwnRead> own_reads;
        int last_own0 = 0;  // the seq of the last put of own(0) in this burst
        for (int k = 0; k < kOwnKeys; ++k) {
          for (int again = 0; again < 2; ++again) {
            const int s = ++seq;
            if (k == 0) {
              last_own0 = s;
            }
            puts.push_back(client->async_put(own(k), value_of(t, s), {}, asio::use_future));
            own_reads.push_back(
                OwnRead{own(k), s, client->async_get(own(k), asio::use_future)});
          }
        }
        const std::string shared = "shared:" + std::to_string(round % kSharedKeys);
        const int shared_seq = ++seq;
        puts.push_back(client->async_put(shared, value_of(t, shared_seq), {}, asio::use_future));
        auto shared_read = client->async_get(shared, asio::use_future);
        // Must fail, each with its own code, without disturbing the rest.
        auto empty_key = client->async_get("", asio::use_future);
        auto node_too_large =  // refused by the node, inside a batch call
            client->async_put(own(0), std::string(kNodeMaxValue + 1, 'n'), {}, asio::use_future);
        auto after_refused = client->async_get(own(0), asio::use_future);
        auto client_too_large =  // refused by the client before sending
            client->async_put(own(1), std::string(1024 * 1024 + 1, 'c'), {}, asio::use_future);
        auto missing = client->async_get("missing:" + std::to_string(t) + ":" +
                                             std::to_string(round),
                                         asio::use_future);
        auto exists = client->async_put_if_absent(own(2), "never", {}, asio::use_future);
        // The shared get, the put refused by the node, the get after it, the
        // miss and put_if_absent reach a node; the empty key and the put over
        // the client's limit never leave the process.
        ops_sent += puts.size() + own_reads.size() + 5;

        for (auto& p : puts) {
          auto r = wait_ready(p);
          if (!r) {
            fail(round, "a put never completed");
          } else if (!*r) {
            fail(round, "put: " + describe(r->error()));
          }
        }
        for (auto& read : own_reads) {
          auto r = wait_ready(read.got);
          if (!r) {
            fail(round, "a get never completed");
            continue;
          }
          if (!*r) {
            fail(round, "get " + read.key + ": " + describe(r->error()));
            continue;
          }
          auto parsed = parse_value(**r);
          // This thread alone writes its own keys: the get sees the put just
          // before it, or a newer one of this thread (never an older one).
          if (!parsed || parsed->first != t || parsed->second < read.at_least ||
              parsed->second > seq) {
            fail(round, "get " + read.key + " after put #" + std::to_string(read.at_least) +
                            " saw '" + r->value().substr(0, 40) + "'");
          }
        }
        if (auto r = wait_ready(shared_read); !r || !*r) {
          fail(round, "shared get failed");
        } else if (auto parsed = parse_value(**r); !parsed) {
          fail(round, "shared get returned a mangled value");
        } else if (parsed->first == t && parsed->second < shared_seq) {
          fail(round, "shared get saw an older value of this thread's own");
        }
        auto expect_error = [&](auto& future, Errc code, const char* what) {
          auto r = wait_ready(future);
          if (!r) {
            fail(round, std::string(what) + " never completed");
          } else if (r->has_value()) {
            fail(round, std::string(what) + " succeeded; expected " +
                            std::string(to_string(code)));
          } else if (r->error().code != code) {
            fail(round, std::string(what) + ": " + describe(r->error()) + "; expected " +
                            std::string(to_string(code)));
          }
        };
        expect_error(empty_key, Errc::invalid_argument, "get of an empty key");
        expect_error(node_too_large, Errc::too_large, "put over the node's limit");
        expect_error(client_too_large, Errc::too_large, "put over the client's limit");
        expect_error(missing, Errc::not_found, "get of a missing key");
        expect_error(exists, Errc::exists, "put_if_absent of an existing key");
        // The refused put changed nothing: the last good put of own(0) is there.
        if (auto r = wait_ready(after_refused); !r || !*r) {
          fail(round, "get after the refused put failed");
        } else if (auto parsed = parse_value(**r);
                   !parsed || parsed->first != t || parsed->second != last_own0) {
          fail(round, "after a refused put, own:0 holds '" + r->value().substr(0, 40) +
                          "', expected put #" + std::to_string(last_own0));
        }

        // Every other round, the blocking API on the same keys: it shares the
        // same queue, so it sees this thread's async writes.
        if (round % 2 == 1) {
          const int s = ++seq;
          if (auto put = client->put(own(1), value_of(t, s)); !put) {
            fail(round, "blocking put: " + describe(put.error()));
          }
          if (client->get(own(1)).value_or("(error)") != value_of(t, s)) {
            fail(round, "blocking get did not see the blocking put");
          }
          ops_sent += 2;
        }
        ++rounds_done;
      }
    });
  }
  go = true;
  for (auto& w : workers) {
    w.join();
  }
  INFO("first problems:\n", problems.first());
  CHECK(problems.count() == 0);
  REQUIRE(rounds_done.load() == kThreads * kRounds);

  // Batching: the nodes served every op, in fewer calls than ops. A put goes
  // to both replicas, so the nodes count more ops than were sent.
  const StatsTotals after = totals(client->stats());
  REQUIRE(after.answered == 3);
  const std::uint64_t calls = after.calls - before.calls;
  const std::uint64_t node_ops = after.ops - before.ops;
  MESSAGE("ops sent: ", ops_sent.load(), ", ops served by nodes: ", node_ops, ", calls: ", calls,
          ", batch calls: ", after.batch_calls - before.batch_calls);
  CHECK(node_ops >= ops_sent.load());
  CHECK(after.batch_calls > before.batch_calls);
  CHECK(calls < ops_sent.load() / 2);
}

namespace {

// `count` keys whose (only) owner is `node`, found by asking the client's ring.
std::vector<std::string> keys_owned_by(discache::Client& client, const std::string& node,
                                       std::size_t count) {
  std::vector<std::string> keys;
  for (int i = 0; i < 100000 && keys.size() < count; ++i) {
    std::string key = "on:" + node + ":" + std::to_string(i);
    auto owners = client.owners(key);
    if (!owners.empty() && owners.front().name == node) {
      keys.push_back(std::move(key));
    }
  }
  return keys;
}

bool is_clear_failure(const discache::Error& error) {
  return (error.code == Errc::unavailable || error.code == Errc::timeout) &&
         !error.message.empty();
}

}  // namespace

TEST_CASE("a burst that meets a dead node fails only the ops sent to it (N=1)") {
  // One copy per key, so a key of the dead node has nowhere else to go; and
  // failure detection slowed down, so the ring keeps the dead node for the
  // whole test and its keys stay its own (the client still learns of the
  // broken connection at once).
  ClusterOptions cluster_options;
  cluster_options.replicas = 1;
  cluster_options.node_args = {"--suspect-after", "60s", "--dead-after", "120s"};
  auto cluster = LocalCluster::start(cluster_options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  discache::ClientOptions options;
  options.deadline = 1000ms;
  options.connect_timeout = 500ms;
  auto client = cluster->connect_client(options);
  REQUIRE_MESSAGE(client, client.error().describe());

  constexpr std::size_t kKeysPerNode = 40;
  std::vector<std::vector<std::string>> keys;  // by node index
  for (std::size_t n = 0; n < 3; ++n) {
    keys.push_back(keys_owned_by(*client, cluster->node(n).name(), kKeysPerNode));
    REQUIRE(keys.back().size() == kKeysPerNode);
    std::vector<discache::KeyValue> items;
    for (const auto& k : keys.back()) {
      items.push_back({k, "v:" + k});
    }
    for (const auto& r : client->multi_put(items)) {
      REQUIRE_MESSAGE(r, r.error().describe());
    }
  }

  const std::size_t dead = 2;
  REQUIRE(cluster->node(dead).kill().killed_by(SIGKILL));

  // Twice: right after the kill (the batch for the dead node is sent, or the
  // client already saw the connection break), and again once the client has
  // certainly marked the node down (ops for it fail fast).
  for (int burst = 0; burst < 2; ++burst) {
    CAPTURE(burst);
    if (burst == 1) {
      // Poll until the client has marked the node down: an op for it then
      // fails at once instead of waiting for a connect or a deadline.
      REQUIRE(wait_until(
          [&]() {
            const auto asked = Clock::now();
            auto r = client->get(keys[dead].front());
            return !r && is_clear_failure(r.error()) && Clock::now() - asked < 50ms;
          },
          deadline_in(5s)));
    }
    const auto start = Clock::now();
    // 8 threads, each issuing async gets, has_keys and puts for every
    // node's keys without waiting, so each batch call mixes threads' ops.
    constexpr int kThreads = 8;
    Problems problems;
    std::atomic<int> dead_failed{0};
    std::atomic<int> live_ok{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t]() {
        struct Pending {
          std::size_t node;
          std::string key;
          std::future<GetResult> get;
          std::future<discache::BoolResult> has;
          std::future<discache::VoidResult> put;
        };
        std::vector<Pending> pending;
        for (std::size_t i = static_cast<std::size_t>(t); i < kKeysPerNode; i += kThreads) {
          for (std::size_t n = 0; n < 3; ++n) {
            const std::string& key = keys[n][i];
            pending.push_back(Pending{n, key, client->async_get(key, asio::use_future),
                                      client->async_has_key(key, asio::use_future),
                                      client->async_put(key, "v:" + key, {}, asio::use_future)});
          }
        }
        for (auto& p : pending) {
          auto got = wait_ready(p.get);
          auto has = wait_ready(p.has);
          auto put = wait_ready(p.put);
          if (!got || !has || !put) {
            problems.add(p.key + ": an op never completed");
            continue;
          }
          if (p.node == dead) {
            // A miss (not_found, has_key false) would be a wrong answer: the
            // key exists, its only owner cannot be asked.
            auto check = [&](const char* op, bool failed, const discache::Error* error,
                             const std::string& got_instead) {
              if (!failed) {
                problems.add(p.key + " (dead node): " + op + " returned " + got_instead);
              } else if (!is_clear_failure(*error)) {
                problems.add(p.key + " (dead node): " + op + ": " + describe(*error) +
                             "; expected unavailable or timeout");
              } else {
                ++dead_failed;
              }
            };
            check("get", !*got, *got ? nullptr : &got->error(), "a value");
            check("has_key", !*has, *has ? nullptr : &has->error(),
                  *has ? (**has ? "true" : "false") : "");
            check("put", !*put, *put ? nullptr : &put->error(), "success");
          } else {
            if (!*got || **got != "v:" + p.key) {
              problems.add(p.key + " (live node): get: " +
                           (*got ? "wrong value" : describe(got->error())));
            } else if (!*has || !**has) {
              problems.add(p.key + " (live node): has_key is not true");
            } else if (!*put) {
              problems.add(p.key + " (live node): put: " + describe(put->error()));
            } else {
              ++live_ok;
            }
          }
        }
      });
    }
    for (auto& w : workers) {
      w.join();
    }
    const auto took = Clock::now() - start;
    INFO("problems:\n", problems.first());
    CHECK(problems.count() == 0);
    CHECK(live_ok.load() == static_cast<int>(2 * kKeysPerNode));
    CHECK(dead_failed.load() == static_cast<int>(3 * kKeysPerNode));
    // At most one deadline (the dead node's batch), plus scheduling slack.
    CHECK(took < options.deadline + 2s);
  }

  // multi_get across all three nodes: each key keeps its own status.
  std::vector<std::string> mixed;
  for (std::size_t i = 0; i < 10; ++i) {
    for (std::size_t n = 0; n < 3; ++n) {
      mixed.push_back(keys[n][i]);
    }
  }
  auto results = client->multi_get(mixed);
  REQUIRE(results.size() == mixed.size());
  for (std::size_t i = 0; i < mixed.size(); ++i) {
    CAPTURE(mixed[i]);
    if (i % 3 == dead) {
      REQUIRE_FALSE(results[i]);
      CHECK_MESSAGE(is_clear_failure(results[i].error()), results[i].error().describe());
    } else {
      CHECK(results[i].value_or("(error)") == "v:" + mixed[i]);
    }
  }
}
