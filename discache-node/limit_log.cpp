#include "limit_log.h"

#include <iostream>

namespace discache::node {

LimitLog::LimitLog(std::string node_name, const kj::Timer& timer)
    : node_name_(std::move(node_name)), timer_(timer) {}

void LimitLog::write(LimitKind kind, const std::string& line) {
  Kind& k = kinds_[static_cast<int>(kind)];
  ++k.total;
  const kj::TimePoint now = timer_.now();
  KJ_IF_MAYBE (last, k.last_written) {
    if (now - *last < kQuietPeriod) {
      ++k.suppressed;
      return;
    }
  }
  k.last_written = now;
  std::cerr << "discache-node[" << node_name_ << "]: " << line;
  if (k.suppressed > 0) {
    std::cerr << " (and " << k.suppressed << " more like it in the last seconds, not logged)";
    k.suppressed = 0;
  }
  std::cerr << std::endl;
}

}  // namespace discache::node
