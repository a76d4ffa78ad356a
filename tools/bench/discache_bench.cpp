// discache-bench: a load generator on the client library's async API (or its
// blocking calls with --blocking). Each load thread runs its own
// asio::io_context; completions are bound to it with asio::bind_executor, so
// a thread's bookkeeping never crosses threads. See docs/benchmarks.md.
#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <kj/main.h>

#include <discache/client.hpp>

#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "duration_text.h"
#include "exit_code_context.h"
#include "key_chooser.h"
#include "load_shape.h"
#include "run_report.h"
#include "server_process.h"

namespace discache::bench {
namespace {

constexpr const char* kVersion = "discache-bench 0.1.0";

// What every load thread shares. Immutable while the threads run, except the
// clients (thread-safe) and the live counters (atomics).
struct Shared {
  const LoadShape& shape;
  std::vector<Client>& clients;
  const ZipfTable* zipf;
  RunWindow window;
  LiveCounters& live;
};

// One load thread in async mode: keeps `in_flight` operations outstanding on
// its own io_context until the window ends, then drains. Thread: its own.
class AsyncLoad {
 public:
  AsyncLoad(const Shared& shared, unsigned index)
      : shared_(shared),
        shape_(shared.shape),
        client_(shared.clients[index % shared.clients.size()]),
        index_(index),
        chooser_(shape_.keys, shared.zipf, shape_.random_seed * 1000003 + index) {}

  ThreadTotals run() {
    for (unsigned i = 0; i < shape_.in_flight; ++i) {
      asio::post(io_, [this] { issue(); });
    }
    io_.run();  // returns once the last operation has completed
    return std::move(totals_);
  }

 private:
  void issue() {
    const auto start = Clock::now();
    if (shared_.window.over(start)) {
      return;
    }
    if (!chooser_.chance(shape_.get_percent)) {
      const std::uint64_t key = chooser_.next_key();
      client_.async_put(key_name(key), value_for(key, shape_.value_size), PutOptions{},
                        asio::bind_executor(io_, [this, start](VoidResult r) {
                          const auto now = Clock::now();
                          if (count(now)) {
                            totals_.latency.record(nanos(start, now));
                            ++totals_.ops;
                            ++totals_.keys;
                            if (!r) totals_.error("put: " + r.error().describe());
                            shared_.live.add(index_, 1, r ? 0 : 1);
                          }
                          issue();
                        }));
      return;
    }
    if (shape_.multiget == 1) {
      const std::uint64_t key = chooser_.next_key();
      client_.async_get(key_name(key), asio::bind_executor(io_, [this, start, key](GetResult r) {
                          const auto now = Clock::now();
                          if (count(now)) {
                            totals_.latency.record(nanos(start, now));
                            ++totals_.ops;
                            ++totals_.keys;
                            const bool ok = tally(key, r);
                            shared_.live.add(index_, 1, ok ? 0 : 1);
                          }
                          issue();
                        }));
      return;
    }
    auto indices = std::make_shared<std::vector<std::uint64_t>>();
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < shape_.multiget; ++i) {
      indices->push_back(chooser_.next_key());
      keys.push_back(key_name(indices->back()));
    }
    client_.async_multi_get(
        std::move(keys), asio::bind_executor(io_, [this, start, indices](std::vector<GetResult> rs) {
          const auto now = Clock::now();
          if (count(now)) {
            totals_.latency.record(nanos(start, now));
            ++totals_.ops;
            totals_.keys += rs.size();
            bool ok = rs.size() == indices->size();
            for (std::size_t i = 0; ok && i < rs.size(); ++i) {
              ok = tally((*indices)[i], rs[i]) && ok;
            }
            shared_.live.add(index_, 1, ok ? 0 : 1);
          }
          issue();
        }));
  }

  bool count(Clock::time_point now) const { return shared_.window.counts(now); }
  static std::uint64_t nanos(Clock::time_point a, Clock::time_point b) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  }
  // Counts a get's outcome; false when it was an error.
  bool tally(std::uint64_t key, const GetResult& r) {
    if (r) {
      if (value_matches(key, *r, shape_.value_size)) {
        ++totals_.hits;
        return true;
      }
      totals_.error("get " + key_name(key) + ": wrong value (" + std::to_string(r->size()) + " bytes)");
      return false;
    }
    if (r.error().is(Errc::not_found)) {
      ++totals_.misses;
      return true;
    }
    totals_.error("get: " + r.error().describe());
    return false;
  }

  const Shared& shared_;
  const LoadShape& shape_;
  Client& client_;
  unsigned index_;
  KeyChooser chooser_;
  asio::io_context io_{1};
  ThreadTotals totals_;
};

// One load thread in blocking mode: one call at a time with the blocking API.
ThreadTotals run_blocking(const Shared& shared, unsigned index) {
  const auto& shape = shared.shape;
  Client& client = shared.clients[index % shared.clients.size()];
  KeyChooser chooser(shape.keys, shared.zipf, shape.random_seed * 1000003 + index);
  ThreadTotals totals;
  std::vector<std::string> keys(shape.multiget);
  std::vector<std::uint64_t> indices(shape.multiget);
  while (true) {
    const auto start = Clock::now();
    if (shared.window.over(start)) {
      break;
    }
    std::uint64_t errors = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::string error;
    auto tally = [&](std::uint64_t key, const GetResult& r) {
      if (r && value_matches(key, *r, shape.value_size)) {
        ++hits;
      } else if (!r && r.error().is(Errc::not_found)) {
        ++misses;
      } else {
        ++errors;
        error = r ? "get " + key_name(key) + ": wrong value" : "get: " + r.error().describe();
      }
    };
    if (!chooser.chance(shape.get_percent)) {
      const std::uint64_t key = chooser.next_key();
      auto r = client.put(key_name(key), value_for(key, shape.value_size));
      if (!r) {
        ++errors;
        error = "put: " + r.error().describe();
      }
    } else if (shape.multiget == 1) {
      const std::uint64_t key = chooser.next_key();
      tally(key, client.get(key_name(key)));
    } else {
      for (std::size_t i = 0; i < shape.multiget; ++i) {
        indices[i] = chooser.next_key();
        keys[i] = key_name(indices[i]);
      }
      auto rs = client.multi_get(keys);
      for (std::size_t i = 0; i < rs.size(); ++i) {
        tally(indices[i], rs[i]);
      }
    }
    const auto now = Clock::now();
    if (shared.window.counts(now)) {
      totals.latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count()));
      ++totals.ops;
      totals.keys += shape.multiget;
      totals.hits += hits;
      totals.misses += misses;
      totals.errors += errors;
      if (errors > 0 && totals.first_error.empty()) {
        totals.first_error = error;
      }
      shared.live.add(index, 1, errors > 0 ? 1 : 0);
    }
  }
  return totals;
}

class BenchMain {
 public:
  explicit BenchMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(
        context_, kVersion,
        "Drives a discache cluster through the client library and reports ops/s, latency "
        "percentiles (p50, p99, p99.9), hits, misses and errors. By default every key is "
        "stored first (--no-preload skips it), then --threads threads keep --in-flight "
        "async operations each outstanding for --warmup plus --duration; only the "
        "--duration window is counted. Exit code: 0 when no operation failed, 1 when some "
        "did, 2 on a usage error or when the cluster cannot be reached.");
    builder
        .addOptionWithArg({'s', "seed"}, KJ_BIND_METHOD(*this, add_seed), "<host:port>",
                          "A node to learn the cluster from (repeatable; default 127.0.0.1:7400).")
        .addOptionWithArg({"replicas"}, KJ_BIND_METHOD(*this, set_replicas), "<n>",
                          "Copies of each key (default: the cluster's setting). Use 1 to "
                          "measure one node.")
        .addOptionWithArg({"clients"}, KJ_BIND_METHOD(*this, set_clients), "<n>",
                          "Client objects, shared round-robin by the threads (default 1: one "
                          "client, so its automatic batching sees every thread's operations).")
        .addOptionWithArg({"deadline"}, KJ_BIND_METHOD(*this, set_deadline), "<duration>",
                          "How long one node may take to answer before an op fails with "
                          "timeout (ClientOptions::deadline; default 1s).")
        .addOption({"plain-transport"}, KJ_BIND_METHOD(*this, set_plain),
                   "Use Cap'n Proto's own stream handling instead of the coalescing transport.");
    add_load_shape_options(builder, shape_);
    return builder.callAfterParsing(KJ_BIND_METHOD(*this, run)).build();
  }

 private:
  kj::MainBuilder::Validity add_seed(kj::StringPtr arg) {
    if (!seeds_given_) {
      options_.seeds.clear();
      seeds_given_ = true;
    }
    options_.seeds.push_back(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_replicas(kj::StringPtr arg) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(arg.begin(), arg.end(), n);
    if (ec != std::errc{} || p != arg.end() || n == 0 || n > 16) {
      return "--replicas wants 1 to 16";
    }
    options_.replicas = n;
    return true;
  }
  kj::MainBuilder::Validity set_clients(kj::StringPtr arg) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(arg.begin(), arg.end(), n);
    if (ec != std::errc{} || p != arg.end() || n == 0 || n > 256) {
      return "--clients wants 1 to 256";
    }
    clients_ = n;
    return true;
  }
  kj::MainBuilder::Validity set_deadline(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms == 0) {
      return "--deadline wants a duration such as 500ms or 5s";
    }
    options_.deadline = std::chrono::milliseconds(*ms);
    return true;
  }
  kj::MainBuilder::Validity set_plain() {
    options_.coalescing_transport = false;
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (auto why = validate(shape_); !why.empty()) {
      return kj::str(why.c_str());
    }
    const int code = run_with_clients();
    fflush(stdout);
    fflush(stderr);
    _exit(code);  // the clients are gone; skip KJ's teardown
  }

  // 0: no operation failed; 1: some did; 2: no cluster.
  int run_with_clients() {
    options_.client_name = "discache-bench";
    std::vector<Client> clients;
    for (unsigned i = 0; i < clients_; ++i) {
      auto client = Client::connect(options_);
      if (!client) {
        fprintf(stderr, "discache-bench: %s\n", client.error().describe().c_str());
        return 2;
      }
      clients.push_back(std::move(*client));
    }

    RunResult result;
    if (shape_.preload) {
      preload(clients, result);
    }
    if (!shape_.preload_only) {
      std::optional<ZipfTable> zipf;
      if (shape_.zipf_alpha > 0) {
        zipf.emplace(shape_.keys, shape_.zipf_alpha);
      }
      LiveCounters live(shape_.threads);
      Shared shared{shape_, clients, zipf ? &*zipf : nullptr,
                    RunWindow::after(shape_.warmup, shape_.duration), live};
      RunMonitor monitor(shape_, shared.window, live);
      std::vector<ThreadTotals> per_thread(shape_.threads);
      std::vector<std::thread> threads;
      for (unsigned i = 0; i < shape_.threads; ++i) {
        threads.emplace_back([&, i] {
          if (shape_.blocking) {
            per_thread[i] = run_blocking(shared, i);
          } else {
            AsyncLoad load(shared, i);
            per_thread[i] = load.run();
          }
        });
      }
      for (auto& t : threads) {
        t.join();
      }
      result.server_cpu_us = monitor.finish();
      for (const auto& t : per_thread) {
        result.totals.merge(t);
      }
      result.window_s =
          std::chrono::duration<double>(shared.window.end - shared.window.start).count();
    }
    print_report("discache", shape_, result);
    return result.totals.errors > 0 ? 1 : 0;
  }

  // Stores every key: each thread takes a share and sends it in multi_puts of
  // 512 keys, one call at a time.
  void preload(std::vector<Client>& clients, RunResult& result) {
    std::uint64_t rss_before = 0;
    if (shape_.server_pid > 0) {
      rss_before = process_rss_bytes(shape_.server_pid).value_or(0);
    }
    const auto start = Clock::now();
    std::vector<ThreadTotals> per_thread(shape_.threads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < shape_.threads; ++t) {
      threads.emplace_back([&, t] {
        Client& client = clients[t % clients.size()];
        constexpr std::uint64_t kChunk = 512;
        std::vector<KeyValue> items;
        for (std::uint64_t first = t * kChunk; first < shape_.keys;
             first += kChunk * shape_.threads) {
          items.clear();
          for (std::uint64_t k = first; k < std::min(first + kChunk, shape_.keys); ++k) {
            items.push_back(KeyValue{key_name(k), value_for(k, shape_.value_size)});
          }
          // A put that failed (a busy machine, a node marked down for a
          // moment) is tried again, up to 5 times, after a pause.
          for (int attempt = 0; !items.empty(); ++attempt) {
            const auto results = client.multi_put(items);
            std::vector<KeyValue> failed;
            for (std::size_t i = 0; i < results.size(); ++i) {
              if (!results[i]) {
                if (attempt == 4) {
                  per_thread[t].error("preload put: " + results[i].error().describe());
                } else {
                  failed.push_back(std::move(items[i]));
                }
              }
            }
            items = std::move(failed);
            if (!items.empty() && attempt < 4) {
              std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            if (attempt == 4) {
              break;
            }
          }
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    result.preload_s = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& t : per_thread) {
      if (t.errors > 0) {
        fprintf(stderr, "discache-bench: %llu preload puts failed; first: %s\n",
                static_cast<unsigned long long>(t.errors), t.first_error.c_str());
        result.totals.merge(t);
      }
    }
    if (shape_.server_pid > 0) {
      result.rss_bytes_per_item = rss_per_item(shape_.server_pid, rss_before, shape_.keys);
    }
  }

  kj::ProcessContext& context_;
  LoadShape shape_;
  ClientOptions options_;
  bool seeds_given_ = false;
  unsigned clients_ = 1;
};

}  // namespace
}  // namespace discache::bench

DISCACHE_MAIN(discache::bench::BenchMain)
