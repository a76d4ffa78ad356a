// discache-load-items: stores N items (16-byte keys, fixed-size values) in a
// memcached or a discache node as fast as it can, for measuring memory per
// item. Then prints the target's counters.
#include <kj/async-io.h>
#include <kj/main.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "endpoint.h"
#include "exit_code_context.h"
#include "flag_parsing.h"
#include "memcached_text_client.h"
#include "node_rpc_client.h"
#include "trace_item.h"

namespace discache::trace {
namespace {

class LoadItemsMain {
 public:
  explicit LoadItemsMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(
               context_, "discache-load-items 0.1.0",
               "Stores --items items with keys key:000000000000 ... (16 bytes) and "
               "--value-bytes values in the memcached or discache node at --address "
               "(pipelined or batched), then prints the target's counters. Used to measure "
               "resident memory per item; see tools/trace/run_engine_benchmarks.sh.")
        .addOptionWithArg({"target"}, KJ_BIND_METHOD(*this, set_target), "<kind>",
                          "memcached or node (required).")
        .addOptionWithArg({"address"}, KJ_BIND_METHOD(*this, set_address), "<host:port>",
                          "Where it listens (required).")
        .addOptionWithArg({"items"}, KJ_BIND_METHOD(*this, set_items), "<n>",
                          "How many items (default 1000000; at most 100000000).")
        .addOptionWithArg({"first-id"}, KJ_BIND_METHOD(*this, set_first_id), "<n>",
                          "Id of the first key (default 0).")
        .addOptionWithArg({"value-bytes"}, KJ_BIND_METHOD(*this, set_value_bytes), "<n>",
                          "Size of each value (default 100).")
        .addOptionWithArg({"value-bytes-max"}, KJ_BIND_METHOD(*this, set_value_bytes_max), "<n>",
                          "When set, value sizes are drawn uniformly from --value-bytes to "
                          "this (deterministically).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity set_target(kj::StringPtr arg) {
    target_ = arg.cStr();
    if (target_ != "memcached" && target_ != "node") {
      return "--target must be memcached or node";
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
  kj::MainBuilder::Validity set_items(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n > 100'000'000) {
      return "--items must be from 0 to 100000000";
    }
    items_ = *n;
    return true;
  }
  kj::MainBuilder::Validity set_first_id(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n) {
      return "--first-id must be a number";
    }
    first_id_ = *n;
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

  kj::MainBuilder::Validity set_value_bytes_max(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n > 1'000'000) {
      return "--value-bytes-max must be from 0 to 1000000";
    }
    value_bytes_max_ = *n;
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (value_bytes_max_ < value_bytes_) {
      value_bytes_max_ = value_bytes_;
    }
    if (target_.empty() || address_.port == 0) {
      return "--target and --address are required";
    }
    kj::Maybe<kj::AsyncIoContext> io;
    std::unique_ptr<CacheTarget> target;
    if (target_ == "memcached") {
      target = std::make_unique<MemcachedTextClient>(address_.host, address_.port);
    } else {
      target = std::make_unique<NodeRpcClient>(io.emplace(kj::setupAsyncIo()), address_);
    }
    // Chunks of 10,000 items: bounded memory here, progress in between.
    constexpr std::uint64_t kChunk = 10'000;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, std::string>> chunk;
    for (std::uint64_t done = 0; done < items_;) {
      chunk.clear();
      for (std::uint64_t i = 0; i < kChunk && done + i < items_; ++i) {
        const std::uint64_t id = first_id_ + done + i;
        // A cheap deterministic size per id (splitmix64's finalizer).
        std::uint64_t mix = (id + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
        mix ^= mix >> 31;
        const std::size_t size = value_bytes_ + mix % (value_bytes_max_ - value_bytes_ + 1);
        chunk.emplace_back(key_for(id), value_for(id, size));
      }
      target->set_many(chunk);
      done += chunk.size();
      if (done % (items_ / 10 + 1) < kChunk) {
        std::cerr << "discache-load-items: " << done << " of " << items_ << std::endl;
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "loaded=" << items_ << " seconds=" << seconds << " " << target->summary()
              << std::endl;
    return true;
  }

  kj::ProcessContext& context_;
  std::string target_;
  Endpoint address_;
  std::uint64_t items_ = 1'000'000;
  std::uint64_t first_id_ = 0;
  std::size_t value_bytes_ = 100;
  std::size_t value_bytes_max_ = 0;
};

}  // namespace
}  // namespace discache::trace

DISCACHE_MAIN(discache::trace::LoadItemsMain)
