#include "tls_accept.h"

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>

#include "discache.capnp.h"
#include "kj_duration.h"
#include "node_connection.h"

namespace discache::node {
namespace {

// Every TLS connection starts with a handshake record (content type 22); a
// Cap'n Proto message starts with its segment count minus one, a small
// number whose low byte is 0 for every message our peers send first.
constexpr kj::byte kTlsHandshakeRecord = 0x16;

// A plaintext peer gets only a login refusal: a few small messages.
constexpr std::uint64_t kPlaintextMessageWords = 16 * 1024;

// Replays the byte the sniffing read took, then reads on from the socket.
class PrefixedStream final : public kj::AsyncIoStream {
 public:
  PrefixedStream(kj::Own<kj::AsyncIoStream> inner, kj::byte first)
      : inner_(kj::mv(inner)), first_(first) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    if (replayed_ || max_bytes == 0) {
      return inner_->tryRead(buffer, min_bytes, max_bytes);
    }
    replayed_ = true;
    auto* out = static_cast<kj::byte*>(buffer);
    out[0] = first_;
    if (min_bytes <= 1) {
      return size_t(1);
    }
    return inner_->tryRead(out + 1, min_bytes - 1, max_bytes - 1).then([](size_t n) {
      return n + 1;
    });
  }
  kj::Promise<void> write(const void* buffer, size_t size) override {
    return inner_->write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override {
    inner_->getsockname(addr, length);
  }
  void getpeername(struct sockaddr* addr, kj::uint* length) override {
    inner_->getpeername(addr, length);
  }

 private:
  kj::Own<kj::AsyncIoStream> inner_;
  kj::byte first_;
  bool replayed_ = false;
};

// The bootstrap a plaintext peer gets: every login fails, saying why.
class TlsRequiredGate final : public wire::Gate::Server {
 public:
  kj::Promise<void> login(LoginContext) override {
    return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                         kj::str(kTlsRequired, ": this node accepts only TLS connections"));
  }
};

// Answers a plaintext peer's login until it hangs up or `deadline` passes.
kj::Promise<void> refuse_plaintext(kj::Own<kj::AsyncIoStream> stream, kj::Timer& timer,
                                   kj::TimePoint deadline) {
  struct Refusal {
    explicit Refusal(kj::Own<kj::AsyncIoStream> s)
        : stream(kj::mv(s)),
          network(*stream, capnp::rpc::twoparty::Side::SERVER, options()),
          rpc(capnp::makeRpcServer(network, kj::heap<TlsRequiredGate>())) {}
    static capnp::ReaderOptions options() {
      auto options = wire_reader_options();
      options.traversalLimitInWords = kPlaintextMessageWords;
      return options;
    }
    kj::Own<kj::AsyncIoStream> stream;
    capnp::TwoPartyVatNetwork network;
    capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  };
  auto refusal = kj::heap<Refusal>(kj::mv(stream));
  auto done = refusal->network.onDisconnect().exclusiveJoin(timer.atTime(deadline));
  return done.attach(kj::mv(refusal));
}

}  // namespace

kj::Duration tls_handshake_timeout(const ConnectionLimits& limits) {
  auto timeout = kTlsHandshakeTimeout;
  if (limits.idle_timeout.count() > 0 && limits.idle_timeout < timeout) {
    timeout = limits.idle_timeout;
  }
  return to_kj(timeout);
}

kj::Promise<kj::Maybe<kj::Own<kj::AsyncIoStream>>> accept_tls(kj::Own<kj::AsyncIoStream> stream,
                                                              TlsServer& tls, kj::Timer& timer,
                                                              kj::Duration timeout, LimitLog& log,
                                                              std::string peer) {
  using Result = kj::Maybe<kj::Own<kj::AsyncIoStream>>;
  const kj::TimePoint deadline = timer.now() + timeout;
  // Peek at the first byte to tell a TLS client from a plaintext one.
  auto first = kj::heap<kj::byte>(0);
  auto read = stream->tryRead(first.get(), 1, 1);
  return timer.timeoutAt(deadline, kj::mv(read))
      .then([stream = kj::mv(stream), first = kj::mv(first), &tls, &timer, &log, peer,
             deadline](size_t n) mutable -> kj::Promise<Result> {
        if (n == 0) {
          return Result(nullptr);
        }
        auto prefixed = kj::heap<PrefixedStream>(kj::mv(stream), *first);
        if (*first != kTlsHandshakeRecord) {
          log.write(LimitKind::tls_plaintext,
                    "refused plaintext connection from " + peer +
                        ": this node accepts only TLS (the peer was told so)");
          return refuse_plaintext(kj::mv(prefixed), timer, deadline).then([]() {
            return Result(nullptr);
          });
        }
        return timer.timeoutAt(deadline, tls.wrap(kj::mv(prefixed)))
            .then([](kj::Own<kj::AsyncIoStream> secured) { return Result(kj::mv(secured)); });
      })
      .catch_([&log, peer, timeout](kj::Exception&& e) {
        const std::string why =
            e.getType() == kj::Exception::Type::OVERLOADED
                ? "not finished within " + std::to_string(timeout / kj::MILLISECONDS) + " ms"
                : tls_failure_reason(e);
        log.write(LimitKind::tls_handshake, "TLS handshake with " + peer + " failed: " + why);
        return Result(nullptr);
      });
}

}  // namespace discache::node
