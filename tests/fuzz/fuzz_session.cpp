#include "fuzz_session.h"

#include "node_server.h"

namespace discache::fuzz {
FuzzSession::FuzzSession()
    : timer_(kj::origin<kj::TimePoint>()),
      ctx_(Member{"fuzz", "127.0.0.1:1", MemberState::alive, 1}, 1,
           node::StoreLimits{1024, 64 * 1024, 2 * 1024 * 1024}, [](const std::string&) {}),
      loop_(ctx_, 0, timer_),
      served_(nullptr) {
  // The timer never moves here: no idle timeout to wait for.
  ctx_.connection_limits.idle_timeout = std::chrono::milliseconds(0);
  auto pipe = kj::newTwoWayPipe();
  peer_ = kj::mv(pipe.ends[0]);
  served_ = node::serve_connection(kj::mv(pipe.ends[1]), "fuzz-peer", loop_)
                .then([this]() { ended_ = true; }, [this](kj::Exception&&) { ended_ = true; })
                .eagerlyEvaluate(nullptr);
}

FuzzSession::~FuzzSession() = default;

kj::Promise<void> FuzzSession::drain_answers() {
  return peer_->tryRead(sink_, 1, sizeof(sink_)).then([this](size_t n) -> kj::Promise<void> {
    if (n == 0) {
      return kj::READY_NOW;
    }
    return drain_answers();
  });
}

kj::Promise<void> FuzzSession::send_all_and_close(kj::ArrayPtr<const kj::byte> bytes) {
  auto sending =
      peer_->write(bytes.begin(), bytes.size()).then([this]() { peer_->shutdownWrite(); });
  return kj::joinPromises(kj::arr(kj::mv(sending), drain_answers())).catch_([](kj::Exception&&) {
  });  // the node may close first: fine
}

}  // namespace discache::fuzz
