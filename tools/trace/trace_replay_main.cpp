// discache-trace-replay: replays a trace read-through (get; on a miss, set)
// against the in-process engine, a memcached, or a discache node, and
// prints the miss ratio.
#include <kj/async-io.h>
#include <kj/main.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "endpoint.h"
#include "eviction_queue.h"
#include "exit_code_context.h"
#include "flag_parsing.h"
#include "memcached_text_client.h"
#include "node_rpc_client.h"
#include "simulated_cache.h"
#include "size_text.h"
#include "trace_file.h"
#include "trace_item.h"

namespace discache::trace {
namespace {

using Clock = std::chrono::steady_clock;

class TraceReplayMain {
 public:
  explicit TraceReplayMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(
               context_, "discache-trace-replay 0.1.0",
               "Replays a trace from discache-trace-gen read-through: for each request, get "
               "the key; on a miss, set it (16-byte keys, --value-bytes values). Prints one "
               "line: requests, misses, miss_ratio, and the target's own counters. Progress "
               "goes to stderr. Targets: sim (the discache engine in-process, with "
               "--memory and --eviction as discache-node takes them), memcached or node "
               "(at --address, loopback). Example: discache-trace-replay --trace "
               "zipf099.trace --target sim --memory 32MiB --eviction lru")
        .addOptionWithArg({"trace"}, KJ_BIND_METHOD(*this, set_trace), "<file>",
                          "The trace to replay (required).")
        .addOptionWithArg({"target"}, KJ_BIND_METHOD(*this, set_target), "<kind>",
                          "sim (default), memcached or node.")
        .addOptionWithArg({"address"}, KJ_BIND_METHOD(*this, set_address), "<host:port>",
                          "Where the memcached or node listens, e.g. 127.0.0.1:11311.")
        .addOptionWithArg({"memory"}, KJ_BIND_METHOD(*this, set_memory), "<size>",
                          "sim: the engine's memory (default 32MiB).")
        .addOptionWithArg({"eviction"}, KJ_BIND_METHOD(*this, set_eviction), "<policy>",
                          "sim: sieve (default) or lru.")
        .addOptionWithArg({"value-bytes"}, KJ_BIND_METHOD(*this, set_value_bytes), "<n>",
                          "Size of each value set (default 100).")
        .addOptionWithArg({"time-limit"}, KJ_BIND_METHOD(*this, set_time_limit), "<seconds>",
                          "Stop early after this long, reporting what was replayed "
                          "(default 3600).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity set_trace(kj::StringPtr arg) {
    trace_path_ = arg.cStr();
    return true;
  }
  kj::MainBuilder::Validity set_target(kj::StringPtr arg) {
    target_ = arg.cStr();
    if (target_ != "sim" && target_ != "memcached" && target_ != "node") {
      return "--target must be sim, memcached or node";
    }
    return true;
  }
  kj::MainBuilder::Validity set_address(kj::StringPtr arg) {
    auto endpoint = parse_endpoint(arg.cStr());
    if (!endpoint) {
      return kj::str(endpoint.error().message.c_str());
    }
    address_ = *endpoint;
    return true;
  }
  kj::MainBuilder::Validity set_memory(kj::StringPtr arg) {
    auto bytes = node::parse_size_bytes(arg.cStr());
    if (!bytes || *bytes < node::kMinMemoryBytes) {
      return "--memory must be a size of at least 64KiB, such as 32MiB";
    }
    memory_ = *bytes;
    return true;
  }
  kj::MainBuilder::Validity set_eviction(kj::StringPtr arg) {
    auto policy = node::parse_eviction_policy(arg.cStr());
    if (!policy) {
      return "--eviction must be sieve or lru";
    }
    policy_ = *policy;
    return true;
  }
  kj::MainBuilder::Validity set_value_bytes(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n > 1'000'000) {
      return "--value-bytes must be from 0 to 1000000";
    }
    value_bytes_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_time_limit(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n == 0) {
      return "--time-limit must be a positive number of seconds";
    }
    time_limit_ = std::chrono::seconds(*n);
    return true;
  }

  std::string target_label() const {
    if (target_ == "sim") {
      return "sim:" + std::string(node::to_string(policy_)) + ":" + node::format_size(memory_);
    }
    return target_ + ":" + address_.to_string();
  }

  kj::MainBuilder::Validity run() {
    if (trace_path_.empty()) {
      return "--trace is required";
    }
    if (target_ != "sim" && address_.port == 0) {
      return "--address is required for memcached and node targets";
    }
    auto ids = read_trace(trace_path_);
    if (!ids) {
      context_.exitError(ids.error().c_str());
    }
    // The node target needs a KJ event loop on this thread.
    kj::Maybe<kj::AsyncIoContext> io;
    std::unique_ptr<CacheTarget> target;
    if (target_ == "sim") {
      target = std::make_unique<SimulatedCache>(memory_, policy_);
    } else if (target_ == "memcached") {
      target = std::make_unique<MemcachedTextClient>(address_.host, address_.port);
    } else {
      auto& context = io.emplace(kj::setupAsyncIo());
      target = std::make_unique<NodeRpcClient>(context, address_);
    }
    replay(*ids, *target);
    return true;
  }

  void replay(const std::vector<std::uint64_t>& ids, CacheTarget& target) {
    const auto start = Clock::now();
    const auto deadline = start + time_limit_;
    const std::uint64_t step = std::max<std::uint64_t>(1, ids.size() / 20);
    std::uint64_t misses = 0;
    std::uint64_t done = 0;
    bool stopped_early = false;
    for (const std::uint64_t id : ids) {
      const std::string key = key_for(id);
      if (!target.get(key)) {
        ++misses;
        target.set(key, value_for(id, value_bytes_));
      }
      ++done;
      if (done % step == 0) {
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        std::cerr << "discache-trace-replay: " << done * 100 / ids.size() << "% (" << done
                  << " requests, miss ratio so far " << std::fixed << std::setprecision(4)
                  << static_cast<double>(misses) / static_cast<double>(done) << ", "
                  << static_cast<std::uint64_t>(static_cast<double>(done) / seconds) << " req/s)"
                  << std::endl;
        if (Clock::now() > deadline) {
          stopped_early = true;
          break;
        }
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "trace=" << trace_path_ << " target=" << target_label() << " requests=" << done
              << " misses=" << misses << " miss_ratio=" << std::fixed << std::setprecision(4)
              << static_cast<double>(misses) / static_cast<double>(std::max<std::uint64_t>(done, 1))
              << " seconds=" << std::setprecision(1) << seconds
              << (stopped_early ? " stopped_early=time-limit" : "") << " " << target.summary()
              << std::endl;
  }

  kj::ProcessContext& context_;
  std::string trace_path_;
  std::string target_ = "sim";
  Endpoint address_;
  std::uint64_t memory_ = 32ull << 20;
  node::EvictionPolicy policy_ = node::EvictionPolicy::sieve;
  std::size_t value_bytes_ = 100;
  std::chrono::seconds time_limit_{3600};
};

}  // namespace
}  // namespace discache::trace

DISCACHE_MAIN(discache::trace::TraceReplayMain)
