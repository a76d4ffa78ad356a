// discache-trace-gen: writes a synthetic cache trace (Zipf, optionally with
// scans) for discache-trace-replay.
#include <kj/main.h>

#include <iostream>
#include <string>

#include "exit_code_context.h"
#include "flag_parsing.h"
#include "trace_file.h"
#include "zipf_trace.h"

namespace discache::trace {
namespace {

class TraceGenMain {
 public:
  explicit TraceGenMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(
               context_, "discache-trace-gen 0.1.0",
               "Writes a cache trace: --requests key ids drawn from a Zipf(--alpha) "
               "distribution over --keys keys (id 0 the most popular), with an optional "
               "--scan-fraction of the requests in scans of --scan-length fresh keys, each "
               "read once. Deterministic for given flags. Example: discache-trace-gen "
               "--alpha 0.99 --keys 1000000 --requests 2000000 --out zipf099.trace")
        .addOptionWithArg({"keys"}, KJ_BIND_METHOD(*this, set_keys), "<n>",
                          "Distinct keys in the Zipf part (default 1000000).")
        .addOptionWithArg({"requests"}, KJ_BIND_METHOD(*this, set_requests), "<n>",
                          "Requests in the trace (default 2000000; at most 500000000).")
        .addOptionWithArg({"alpha"}, KJ_BIND_METHOD(*this, set_alpha), "<a>",
                          "Zipf skew (default 0.99; 0 is uniform).")
        .addOptionWithArg({"scan-fraction"}, KJ_BIND_METHOD(*this, set_scan_fraction), "<f>",
                          "Share of requests in scans, 0 to 0.9 (default 0).")
        .addOptionWithArg({"scan-length"}, KJ_BIND_METHOD(*this, set_scan_length), "<n>",
                          "Keys in one scan (default 100000).")
        .addOptionWithArg({"seed"}, KJ_BIND_METHOD(*this, set_seed), "<n>",
                          "Random seed (default 1).")
        .addOptionWithArg({'o', "out"}, KJ_BIND_METHOD(*this, set_out), "<file>",
                          "Where to write the trace (required).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity set_keys(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n == 0 || *n > 100'000'000) {
      return "--keys must be from 1 to 100000000";
    }
    spec_.keys = *n;
    return true;
  }
  kj::MainBuilder::Validity set_requests(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n == 0 || *n > 500'000'000) {
      return "--requests must be from 1 to 500000000";
    }
    spec_.requests = *n;
    return true;
  }
  kj::MainBuilder::Validity set_alpha(kj::StringPtr arg) {
    auto a = parse_fraction(arg);
    if (!a || *a < 0 || *a > 5) {
      return "--alpha must be a number from 0 to 5";
    }
    spec_.alpha = *a;
    return true;
  }
  kj::MainBuilder::Validity set_scan_fraction(kj::StringPtr arg) {
    auto f = parse_fraction(arg);
    if (!f || *f < 0 || *f > 0.9) {
      return "--scan-fraction must be from 0 to 0.9";
    }
    spec_.scan_fraction = *f;
    return true;
  }
  kj::MainBuilder::Validity set_scan_length(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n == 0) {
      return "--scan-length must be a positive number";
    }
    spec_.scan_length = *n;
    return true;
  }
  kj::MainBuilder::Validity set_seed(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n) {
      return "--seed must be a number";
    }
    spec_.seed = *n;
    return true;
  }
  kj::MainBuilder::Validity set_out(kj::StringPtr arg) {
    out_ = arg.cStr();
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (out_.empty()) {
      return "--out is required";
    }
    int last_percent = -1;
    auto ids = generate_trace(spec_, [&](std::uint64_t done) {
      const int percent = static_cast<int>(done * 100 / spec_.requests);
      if (percent / 10 != last_percent / 10) {
        std::cerr << "discache-trace-gen: " << percent << "%" << std::endl;
        last_percent = percent;
      }
    });
    if (auto written = write_trace(out_, ids); !written) {
      context_.exitError(written.error().c_str());
    }
    std::cerr << "discache-trace-gen: wrote " << ids.size() << " requests to " << out_ << std::endl;
    return true;
  }

  kj::ProcessContext& context_;
  TraceSpec spec_;
  std::string out_;
};

}  // namespace
}  // namespace discache::trace

DISCACHE_MAIN(discache::trace::TraceGenMain)
