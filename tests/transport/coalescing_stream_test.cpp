// CoalescingStream (common/coalescing_stream.h) over real kernel sockets: a
// long random byte stream, messages split at every byte boundary, RPC calls to
// a real discache-node with large values and many calls in flight, wrapped
// and plain ends mixed, and peers that vanish mid-message.
//
// Every test runs one KJ event loop on the test's thread (kj::setupAsyncIo)
// and bounds its wait with a timer, so a bug shows as a failure, not a hang.
// The RPC tests start discache-node from $DISCACHE_NODE (meson sets it).
#include <doctest/doctest.h>

#include <capnp/message.h>
#include <capnp/serialize-async.h>
#include <capnp/serialize.h>
#include <kj/async-io.h>
#include <kj/debug.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coalescing_stream.h"
#include "discache.capnp.h"
#include "endpoint.h"
#include "node_connection.h"

namespace kj {
// So doctest prints kj::String values in failed checks.
inline std::ostream& operator<<(std::ostream& out, const String& text) {
  return out << text.cStr();
}
}  // namespace kj

namespace discache {
namespace {

using kj::byte;

// ---- the byte pattern every stream carries --------------------------------------

// Byte i of every test stream is pattern()[i % kPatternLength]: random bytes,
// and a prime period, so a lost, repeated or reordered chunk shows up.
constexpr std::size_t kPatternLength = 65521;

const std::vector<byte>& pattern() {
  static const std::vector<byte> bytes = [] {
    std::vector<byte> b(kPatternLength);
    std::mt19937 rng(7);
    for (auto& x : b) {
      x = static_cast<byte>(rng());
    }
    return b;
  }();
  return bytes;
}

void fill_pattern(byte* out, std::size_t size, std::uint64_t position) {
  const auto& p = pattern();
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = p[(position + i) % kPatternLength];
  }
}

// The first position in [position, position + size) whose byte is wrong, if any.
std::optional<std::uint64_t> first_mismatch(const byte* data, std::size_t size,
                                            std::uint64_t position) {
  const auto& p = pattern();
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] != p[(position + i) % kPatternLength]) {
      return position + i;
    }
  }
  return std::nullopt;
}

// ---- stream ends ------------------------------------------------------------------

struct Ends {
  kj::Own<kj::AsyncIoStream> writer;
  kj::Own<kj::AsyncIoStream> reader;
};

// A connected pair of kernel sockets (socketpair), each end optionally wrapped.
Ends make_ends(kj::AsyncIoContext& io, bool wrap_writer, bool wrap_reader) {
  auto pipe = io.provider->newTwoWayPipe();
  Ends ends{kj::mv(pipe.ends[0]), kj::mv(pipe.ends[1])};
  if (wrap_writer) {
    ends.writer = kj::heap<CoalescingStream>(kj::mv(ends.writer));
  }
  if (wrap_reader) {
    ends.reader = kj::heap<CoalescingStream>(kj::mv(ends.reader));
  }
  return ends;
}

const char* describe(bool wrap_writer, bool wrap_reader) {
  if (wrap_writer && wrap_reader) return "wrapped -> wrapped";
  if (wrap_writer) return "wrapped -> plain";
  if (wrap_reader) return "plain -> wrapped";
  return "plain -> plain";
}

// Waits for `promise`, failing the test if it takes longer than `limit`.
template <typename T>
T wait_bounded(kj::AsyncIoContext& io, kj::Promise<T>&& promise, kj::Duration limit) {
  return io.provider->getTimer().timeoutAfter(limit, kj::mv(promise)).wait(io.waitScope);
}

// "DISCONNECTED", or another exception's type and description.
kj::String outcome_of(const kj::Exception& e) {
  if (e.getType() == kj::Exception::Type::DISCONNECTED) {
    return kj::str("DISCONNECTED");
  }
  return kj::str(e.getType(), ": ", e.getDescription());
}

// Both promises, each evaluated eagerly. (0.9.2's joinPromises() runs a
// branch's continuations only once every branch is ready, so a writer whose
// last step is shutdownWrite() would wait for a reader waiting for its EOF.)
kj::Promise<void> join(kj::Promise<void> a, kj::Promise<void> b) {
  auto both = kj::heapArrayBuilder<kj::Promise<void>>(2);
  both.add(a.eagerlyEvaluate(nullptr));
  both.add(b.eagerlyEvaluate(nullptr));
  return kj::joinPromises(both.finish());
}

// Ends the current event-loop turn in one of three ways, so writes land in
// different places relative to the stream's end-of-turn flush.
kj::Promise<void> turn_boundary(kj::Timer& timer, std::uint64_t choice) {
  switch (choice % 3) {
    case 0:
      return kj::evalLater([] {});  // before the stream's evalLast flush
    case 1:
      return kj::evalLast([] {});  // after it
    default:
      return timer.afterDelay(0 * kj::MILLISECONDS);  // through a poll of the kernel
  }
}

// ---- a random byte stream ------------------------------------------------------------

// Writes `total` pattern bytes in random sizes (0 B to 300 KiB, sometimes as
// several pieces), several writes per turn (each issued when the previous
// one's promise resolves, as the RPC system does), then shuts the write side
// down at once, with data still queued.
class RandomWriter {
 public:
  RandomWriter(kj::AsyncIoStream& out, kj::Timer& timer, std::uint64_t seed, std::uint64_t total)
      : out_(out), timer_(timer), rng_(seed), total_(total) {}

  kj::Promise<void> run() {
    if (sent_ == total_) {
      out_.shutdownWrite();
      return kj::READY_NOW;
    }
    const int writes = 1 + static_cast<int>(rng_() % 5);
    return write_group(writes)
        .then([this]() { return turn_boundary(timer_, rng_()); })
        .then([this]() { return run(); });
  }

  std::uint64_t writes() const { return writes_; }

 private:
  std::size_t next_size() {
    const auto kind = rng_() % 16;
    std::size_t size;
    if (kind == 0) {
      size = 0;
    } else if (kind < 8) {
      size = 1 + rng_() % 4096;
    } else if (kind < 12) {
      size = 1 + rng_() % (64 * 1024);
    } else {
      size = 1 + rng_() % (300 * 1024);
    }
    return static_cast<std::size_t>(std::min<std::uint64_t>(size, total_ - sent_));
  }

  kj::Promise<void> write_group(int left) {
    if (left == 0 || sent_ == total_) {
      return kj::READY_NOW;
    }
    const std::size_t size = next_size();
    auto data = kj::heapArray<byte>(size);
    fill_pattern(data.begin(), size, sent_);
    sent_ += size;
    ++writes_;
    kj::Promise<void> written = nullptr;
    if (size > 1 && rng_() % 2 == 0) {
      // Up to five pieces, cut at random points (some may be empty).
      const std::size_t count = 2 + rng_() % 4;
      std::vector<std::size_t> cuts{0, size};
      for (std::size_t i = 1; i < count; ++i) {
        cuts.push_back(rng_() % (size + 1));
      }
      std::sort(cuts.begin(), cuts.end());
      auto pieces = kj::heapArray<kj::ArrayPtr<const byte>>(cuts.size() - 1);
      for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
        pieces[i] = data.slice(cuts[i], cuts[i + 1]);
      }
      written = out_.write(pieces).attach(kj::mv(pieces));
    } else {
      written = out_.write(data.begin(), data.size());
    }
    return written.attach(kj::mv(data)).then([this, left]() { return write_group(left - 1); });
  }

  kj::AsyncIoStream& out_;
  kj::Timer& timer_;
  std::mt19937_64 rng_;
  std::uint64_t total_;
  std::uint64_t sent_ = 0;
  std::uint64_t writes_ = 0;
};

// Reads with random tryRead(min, max) until EOF, checking every byte.
class CheckingReader {
 public:
  CheckingReader(kj::AsyncIoStream& in, std::uint64_t seed)
      : in_(in), rng_(seed), buffer_(kj::heapArray<byte>(320 * 1024)) {}

  kj::Promise<void> run() {
    // Mostly small reads (as the RPC system's 8-byte headers), some at least
    // as large as the stream's 64 KiB buffer (read straight into ours).
    std::size_t max;
    const auto kind = rng_() % 8;
    if (kind < 3) {
      max = 1 + rng_() % 16;
    } else if (kind < 6) {
      max = 1 + rng_() % (64 * 1024);
    } else {
      max = 64 * 1024 + rng_() % (buffer_.size() - 64 * 1024 + 1);
    }
    const std::size_t min = 1 + rng_() % max;
    return in_.tryRead(buffer_.begin(), min, max).then([this, min, max](size_t n) -> kj::Promise<void> {
      ++reads_;
      if (n > max) {
        mismatch_ = received_;
        return kj::READY_NOW;
      }
      if (auto bad = first_mismatch(buffer_.begin(), n, received_)) {
        mismatch_ = *bad;
        return kj::READY_NOW;
      }
      received_ += n;
      if (n < min) {
        eof_ = true;  // short only at EOF
        return kj::READY_NOW;
      }
      return run();
    });
  }

  std::uint64_t received() const { return received_; }
  bool eof() const { return eof_; }
  std::optional<std::uint64_t> mismatch() const { return mismatch_; }
  std::uint64_t reads() const { return reads_; }

 private:
  kj::AsyncIoStream& in_;
  std::mt19937_64 rng_;
  kj::Array<byte> buffer_;
  std::uint64_t received_ = 0;
  std::uint64_t reads_ = 0;
  bool eof_ = false;
  std::optional<std::uint64_t> mismatch_;
};

void stream_random_bytes(bool wrap_writer, bool wrap_reader, std::uint64_t total,
                         std::uint64_t seed) {
  CAPTURE(std::string(describe(wrap_writer, wrap_reader)));
  CAPTURE(seed);
  auto io = kj::setupAsyncIo();
  auto ends = make_ends(io, wrap_writer, wrap_reader);
  RandomWriter writer(*ends.writer, io.provider->getTimer(), seed, total);
  CheckingReader reader(*ends.reader, seed + 1);

  wait_bounded(io, join(writer.run(), reader.run()), 90 * kj::SECONDS);

  CHECK_FALSE(reader.mismatch().has_value());
  if (auto bad = reader.mismatch()) {
    FAIL("wrong byte at stream position " << *bad);
  }
  CHECK(reader.received() == total);
  CHECK(reader.eof());
  MESSAGE(std::string(describe(wrap_writer, wrap_reader)) << ": " << total << " bytes in " << writer.writes()
                                             << " writes and " << reader.reads() << " reads");
}

TEST_CASE("48 MiB of random-size writes and reads through a wrapped pair, then EOF") {
  stream_random_bytes(true, true, 48ull << 20, 1001);
}

TEST_CASE("16 MiB between a wrapped and a plain end, both directions") {
  SUBCASE("wrapped writer, plain reader") { stream_random_bytes(true, false, 16ull << 20, 2001); }
  SUBCASE("plain writer, wrapped reader") { stream_random_bytes(false, true, 16ull << 20, 3001); }
}

TEST_CASE("EOF after shutdownWrite waits for everything queued, however it was written") {
  auto io = kj::setupAsyncIo();
  auto ends = make_ends(io, true, true);
  // 3 MiB in one turn: above the 1 MiB high-water mark, so some writes wait.
  constexpr std::size_t kSize = 3 << 20;
  auto data = kj::heapArray<byte>(kSize);
  fill_pattern(data.begin(), kSize, 0);
  auto written = ends.writer->write(data.begin(), 100)
                     .then([&]() { return ends.writer->write(data.begin() + 100, kSize - 100); })
                     .then([&]() { ends.writer->shutdownWrite(); });
  CheckingReader reader(*ends.reader, 5);
  wait_bounded(io, join(kj::mv(written), reader.run()), 30 * kj::SECONDS);
  CHECK_FALSE(reader.mismatch().has_value());
  CHECK(reader.received() == kSize);
  CHECK(reader.eof());
}

// ---- messages split at every byte boundary -------------------------------------------

// Two Cap'n Proto messages back to back (an 8-byte-aligned frame each), with
// recognisable contents: what the RPC system reads with tryRead(8, 8) for a
// header and then a read of the body.
kj::Array<byte> two_messages() {
  auto frame = [](std::size_t value_size, kj::StringPtr text) {
    capnp::MallocMessageBuilder message;
    auto result = message.initRoot<wire::OpResult>();
    auto value = result.initValue(value_size);
    fill_pattern(value.begin(), value_size, value_size);
    result.setMessage(text);
    result.setVersion(value_size * 1000 + 7);
    return capnp::messageToFlatArray(message);
  };
  auto first = frame(37, "first");
  auto second = frame(150, "second message");
  auto bytes = kj::heapArray<byte>((first.size() + second.size()) * sizeof(capnp::word));
  memcpy(bytes.begin(), first.begin(), first.size() * sizeof(capnp::word));
  memcpy(bytes.begin() + first.size() * sizeof(capnp::word), second.begin(),
         second.size() * sizeof(capnp::word));
  return bytes;
}

// Reads the two messages of two_messages() and says what is wrong, if anything.
kj::Promise<kj::String> read_two_messages(kj::AsyncIoStream& in) {
  auto check = [](capnp::MessageReader& reader, std::size_t value_size,
                  kj::StringPtr text) -> kj::String {
    auto result = reader.getRoot<wire::OpResult>();
    auto value = result.getValue();
    if (value.size() != value_size) {
      return kj::str("value size ", value.size(), " != ", value_size);
    }
    if (first_mismatch(value.begin(), value.size(), value_size)) {
      return kj::str("value bytes differ");
    }
    if (result.getMessage() != text || result.getVersion() != value_size * 1000 + 7) {
      return kj::str("fields differ");
    }
    return kj::str();
  };
  return capnp::readMessage(in).then([&in, check](kj::Own<capnp::MessageReader> first) {
    auto problem = check(*first, 37, "first");
    return capnp::readMessage(in).then(
        [check, problem = kj::mv(problem)](kj::Own<capnp::MessageReader> second) mutable {
          if (problem.size() > 0) {
            return kj::mv(problem);
          }
          return check(*second, 150, "second message");
        });
  });
}

TEST_CASE("two messages split at every byte boundary are read whole") {
  for (auto [wrap_writer, wrap_reader] : {std::pair{false, true}, std::pair{true, true},
                                         std::pair{true, false}}) {
    CAPTURE(std::string(describe(wrap_writer, wrap_reader)));
    auto io = kj::setupAsyncIo();
    auto& timer = io.provider->getTimer();
    auto ends = make_ends(io, wrap_writer, wrap_reader);
    const auto bytes = two_messages();
    for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
      CAPTURE(cut);
      // The first part goes out and reaches the kernel (a poll) before the
      // second is written, so the reader sees the message arrive in two parts.
      auto written = ends.writer->write(bytes.begin(), cut)
                         .then([&]() { return timer.afterDelay(0 * kj::MILLISECONDS); })
                         .then([&]() { return kj::evalLast([] {}); })
                         .then([&, cut]() {
                           return ends.writer->write(bytes.begin() + cut, bytes.size() - cut);
                         });
      // Evaluated eagerly, so the reader takes the first part as it arrives.
      auto read = read_two_messages(*ends.reader).eagerlyEvaluate(nullptr);
      wait_bounded(io, kj::mv(written), 10 * kj::SECONDS);
      auto problem = wait_bounded(io, kj::mv(read), 10 * kj::SECONDS);
      REQUIRE(problem == "");
    }
  }
}

// Writes `bytes` one byte per write, each in its own turn, waiting for a poll
// of the kernel between them.
kj::Promise<void> trickle(kj::AsyncIoStream& out, kj::Timer& timer, kj::ArrayPtr<const byte> bytes,
                          std::size_t at = 0) {
  if (at == bytes.size()) {
    return kj::READY_NOW;
  }
  return out.write(bytes.begin() + at, 1)
      .then([&timer]() { return timer.afterDelay(0 * kj::MILLISECONDS); })
      .then([&out, &timer, bytes, at]() { return trickle(out, timer, bytes, at + 1); });
}

TEST_CASE("a message written one byte per turn arrives whole and in order") {
  for (bool wrap_writer : {false, true}) {
    CAPTURE(wrap_writer);
    auto io = kj::setupAsyncIo();
    auto& timer = io.provider->getTimer();
    const auto bytes = two_messages();

    // Read with min = 1: each read asks for at least one byte, at most the rest.
    {
      auto ends = make_ends(io, wrap_writer, true);
      auto written = trickle(*ends.writer, timer, bytes);
      std::vector<byte> got;
      auto buffer = kj::heapArray<byte>(bytes.size());
      std::size_t reads = 0;
      kj::Function<kj::Promise<void>()> read_rest;
      read_rest = [&]() -> kj::Promise<void> {
        if (got.size() == bytes.size()) {
          return kj::READY_NOW;
        }
        return ends.reader->tryRead(buffer.begin(), 1, bytes.size() - got.size())
            .then([&](size_t n) -> kj::Promise<void> {
              ++reads;
              KJ_REQUIRE(n >= 1, "short read before EOF");
              got.insert(got.end(), buffer.begin(), buffer.begin() + n);
              return read_rest();
            });
      };
      wait_bounded(io, join(kj::mv(written), read_rest()), 20 * kj::SECONDS);
      REQUIRE(got.size() == bytes.size());
      CHECK(memcmp(got.data(), bytes.begin(), bytes.size()) == 0);
      // Nearly every byte is its own read: the writer waits for a poll each time.
      CHECK(reads > bytes.size() / 2);
    }
    // Read as the RPC system does: an 8-byte header, then the body.
    {
      auto ends = make_ends(io, wrap_writer, true);
      auto written = trickle(*ends.writer, timer, bytes);
      auto read = read_two_messages(*ends.reader).eagerlyEvaluate(nullptr);
      wait_bounded(io, kj::mv(written), 20 * kj::SECONDS);
      auto problem = wait_bounded(io, kj::mv(read), 20 * kj::SECONDS);
      CHECK(problem == "");
    }
  }
}

// ---- a peer that goes away ----------------------------------------------------------

TEST_CASE("a peer that closes mid-message ends the pending message read") {
  for (bool wrap_reader : {true, false}) {
    for (bool wrap_writer : {false, true}) {
      CAPTURE(std::string(describe(wrap_writer, wrap_reader)));
      auto io = kj::setupAsyncIo();
      auto ends = make_ends(io, wrap_writer, wrap_reader);
      const auto bytes = two_messages();
      // The whole first message and half of the second, then the peer is gone.
      const std::size_t half = bytes.size() - 40;
      auto read = read_two_messages(*ends.reader).eagerlyEvaluate(nullptr);
      auto written = ends.writer->write(bytes.begin(), half).then([&]() {
        ends.writer->shutdownWrite();  // with data possibly still queued
        return kj::evalLast([] {});
      });
      written.wait(io.waitScope);
      auto destroyed = kj::evalLater([&]() { ends.writer = nullptr; });
      destroyed.wait(io.waitScope);
      const auto start = std::chrono::steady_clock::now();
      auto outcome = io.provider->getTimer()
                         .timeoutAfter(5 * kj::SECONDS, kj::mv(read))
                         .then([](kj::String) { return kj::str("read completed"); },
                               [](kj::Exception&& e) { return outcome_of(e); })
                         .wait(io.waitScope);
      const auto waited = std::chrono::steady_clock::now() - start;
      CAPTURE(outcome);
      CHECK(outcome.startsWith("DISCONNECTED"));
      CHECK(waited < std::chrono::seconds(1));
    }
  }
}

// The peer stops reading (shutdown(SHUT_RD)) but keeps its end open: our
// reads would wait forever, and only the failed write can tell us. `size`
// picks the path: below 4 KiB the flush runs at the end of the turn; at 64 KiB
// write() flushes at once.
void check_failed_flush_fails_reads(std::size_t size) {
  CAPTURE(size);
  auto io = kj::setupAsyncIo();
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  auto ours = kj::heap<CoalescingStream>(io.lowLevelProvider->wrapSocketFd(
      fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP));
  auto theirs = io.lowLevelProvider->wrapSocketFd(fds[1],
                                                  kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  auto buffer = kj::heapArray<byte>(100);
  auto pending = ours->tryRead(buffer.begin(), 1, buffer.size());
  REQUIRE(shutdown(fds[1], SHUT_RD) == 0);
  auto data = kj::heapArray<byte>(size);
  fill_pattern(data.begin(), data.size(), 0);
  // Below the high-water mark a write resolves at once; its flush then fails
  // with EPIPE, and that must reach the reads.
  auto write_outcome = kj::evalNow([&]() { return ours->write(data.begin(), data.size()); })
                           .then([]() { return kj::str("ok"); },
                                 [](kj::Exception&& e) { return outcome_of(e); })
                           .wait(io.waitScope);
  CHECK((write_outcome == "ok" || write_outcome == "DISCONNECTED"));
  auto outcome = io.provider->getTimer()
                     .timeoutAfter(2 * kj::SECONDS, kj::mv(pending))
                     .then([](size_t n) { return kj::str("read returned ", n); },
                           [](kj::Exception&& e) { return outcome_of(e); })
                     .wait(io.waitScope);
  CHECK(outcome == "DISCONNECTED");

  auto next_read = ours->tryRead(buffer.begin(), 1, buffer.size())
                       .then([](size_t n) { return kj::str("read returned ", n); },
                             [](kj::Exception&& e) { return outcome_of(e); });
  CHECK(wait_bounded(io, kj::mv(next_read), 2 * kj::SECONDS).startsWith("DISCONNECTED"));
  auto next_write = kj::evalNow([&]() { return ours->write(data.begin(), 10); })
                        .then([]() { return kj::str("write succeeded"); },
                              [](kj::Exception&& e) { return outcome_of(e); });
  CHECK(wait_bounded(io, kj::mv(next_write), 2 * kj::SECONDS) == "DISCONNECTED");
}

// Regression: flush() once called inner_->write() directly, and KJ 0.9.2's
// socket write() throws synchronously when write(2) fails (EPIPE,
// ECONNRESET); the throw skipped fail_writes(), so pending reads hung and
// later writes were queued for ever. flush() now goes through kj::evalNow.
TEST_CASE("a failed end-of-turn flush fails the pending read and every later call") {
  check_failed_flush_fails_reads(100);
}

TEST_CASE("a failed immediate flush fails the pending read and every later call") {
  check_failed_flush_fails_reads(64 * 1024);
}

// ---- RPC through wrapped streams, against a real discache-node --------------------------

// One discache-node process on 127.0.0.1 with a free port; SIGKILLed and
// reaped by the destructor. Its stderr goes to a temporary file.
class NodeChild {
 public:
  explicit NodeChild(const std::vector<std::string>& extra_args) {
    const char* path = getenv("DISCACHE_NODE");
    REQUIRE_MESSAGE(path != nullptr, "DISCACHE_NODE is not set (meson test sets it)");
    char log_template[] = "/tmp/discache-transport-test-XXXXXX";
    const int log_fd = mkstemp(log_template);
    REQUIRE(log_fd >= 0);
    log_path_ = log_template;
    std::vector<std::string> args{path,         "--listen",     "127.0.0.1:0", "--replicas",
                                  "1",          "--memory",     "64MiB",       "--name",
                                  "transport-test"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // KJ may have blocked signals and ignores SIGPIPE: give the node a clean slate.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGPIPE, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(log_fd, 2);
      const int null_fd = open("/dev/null", O_RDWR);
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log_fd);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto text = log();
      const auto at = text.find("listening on ");
      const auto end = at == std::string::npos ? at : text.find('\n', at);
      if (end != std::string::npos) {
        const auto address = text.substr(at + 13, end - at - 13);
        port_ = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("discache-node exited: " << text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("discache-node did not print its address: " << log());
  }
  NodeChild(const NodeChild&) = delete;
  NodeChild& operator=(const NodeChild&) = delete;
  ~NodeChild() {
    kill_now();
    unlink(log_path_.c_str());
  }

  std::uint16_t port() const { return port_; }
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

// Value sizes that straddle the stream's thresholds (4 KiB flush, 16 KiB,
// 64 KiB read buffer) up to 200 KiB, then random ones.
std::vector<std::size_t> value_sizes(std::uint64_t seed) {
  std::vector<std::size_t> sizes{0,     1,     7,     8,     9,     63,     64,     65,
                                 4095,  4096,  4097,  16383, 16384, 16385,  65535,  65536,
                                 65537, 65544, 131072, 204799, 204800};
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 43; ++i) {
    sizes.push_back(rng() % (200 * 1024 + 1));
  }
  return sizes;
}

std::string key_of(std::size_t i) { return "transport-key-" + std::to_string(i); }

kj::Array<byte> value_of(std::size_t i, std::size_t size) {
  auto value = kj::heapArray<byte>(size);
  fill_pattern(value.begin(), size, i * 7919);
  return value;
}

// Puts every value, then gets it back and compares byte by byte; 16 calls in
// flight at all times (16 chains, each taking every 16th key). Returns a
// description of the first problem, or "".
kj::Promise<kj::String> put_then_get_all(wire::Node::Client node,
                                         const std::vector<std::size_t>& sizes) {
  constexpr std::size_t kInFlight = 16;
  struct Chain {
    static kj::Promise<kj::String> run(wire::Node::Client node, const std::vector<std::size_t>& sizes,
                                       std::size_t i) {
      if (i >= sizes.size()) {
        return kj::str();
      }
      auto put = node.putRequest();
      auto key = key_of(i);
      put.setKey(kj::ArrayPtr<const byte>(reinterpret_cast<const byte*>(key.data()), key.size()));
      put.setValue(value_of(i, sizes[i]));
      return put.send().then([node, &sizes, i, key](capnp::Response<wire::Node::PutResults>&& r) mutable
                                 -> kj::Promise<kj::String> {
        if (r.getResult().getStatus() != wire::Status::OK) {
          return kj::str("put ", i, " (", sizes[i], " B): status ",
                         static_cast<int>(r.getResult().getStatus()), " ",
                         r.getResult().getMessage());
        }
        auto get = node.getRequest();
        get.setKey(kj::ArrayPtr<const byte>(reinterpret_cast<const byte*>(key.data()), key.size()));
        return get.send().then([node, &sizes, i](capnp::Response<wire::Node::GetResults>&& g) mutable
                                   -> kj::Promise<kj::String> {
          auto result = g.getResult();
          if (result.getStatus() != wire::Status::OK) {
            return kj::str("get ", i, ": status ", static_cast<int>(result.getStatus()));
          }
          auto value = result.getValue();
          const auto expected = value_of(i, sizes[i]);
          if (value.size() != expected.size() ||
              memcmp(value.begin(), expected.begin(), value.size()) != 0) {
            return kj::str("get ", i, ": ", value.size(), " bytes back for ", sizes[i],
                           " put, or different bytes");
          }
          return run(kj::mv(node), sizes, i + kInFlight);
        });
      });
    }
  };
  auto chains = kj::heapArrayBuilder<kj::Promise<kj::String>>(kInFlight);
  for (std::size_t c = 0; c < kInFlight; ++c) {
    chains.add(Chain::run(node, sizes, c));
  }
  return kj::joinPromises(chains.finish()).then([](kj::Array<kj::String> problems) {
    for (auto& p : problems) {
      if (p.size() > 0) {
        return kj::mv(p);
      }
    }
    return kj::str();
  });
}

// The same values read back in one batch call (one large response).
kj::Promise<kj::String> batch_get_all(wire::Node::Client node, const std::vector<std::size_t>& sizes) {
  auto request = node.batchRequest();
  auto ops = request.initOps(sizes.size());
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    keys.push_back(key_of(i));
    ops[i].setKey(kj::ArrayPtr<const byte>(reinterpret_cast<const byte*>(keys[i].data()),
                                           keys[i].size()));
    ops[i].setGet();
  }
  return request.send().then([&sizes](capnp::Response<wire::Node::BatchResults>&& r) {
    auto results = r.getResults();
    if (results.size() != sizes.size()) {
      return kj::str("batch: ", results.size(), " results for ", sizes.size(), " ops");
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const auto expected = value_of(i, sizes[i]);
      auto value = results[i].getValue();
      if (results[i].getStatus() != wire::Status::OK || value.size() != expected.size() ||
          memcmp(value.begin(), expected.begin(), value.size()) != 0) {
        return kj::str("batch get ", i, " differs");
      }
    }
    return kj::str();
  });
}

kj::Own<NodeConnection> connect_to(kj::AsyncIoContext& io, std::uint16_t port, bool coalesce) {
  return wait_bounded(io,
                      NodeConnection::connect(io.provider->getNetwork(), Endpoint{"127.0.0.1", port},
                                              "", "transport-test", coalesce),
                      10 * kj::SECONDS);
}

TEST_CASE("RPC calls with values of 0 B to 200 KiB, 16 in flight, wrapped and plain ends mixed") {
  struct Combination {
    bool client_wrapped;
    const char* node_transport;
  };
  for (auto combination : {Combination{true, "coalescing"}, Combination{true, "plain"},
                           Combination{false, "coalescing"}}) {
    CAPTURE(combination.client_wrapped);
    CAPTURE(std::string(combination.node_transport));
    NodeChild node_process({"--transport", combination.node_transport});
    auto io = kj::setupAsyncIo();
    auto connection = connect_to(io, node_process.port(), combination.client_wrapped);
    const auto sizes = value_sizes(combination.client_wrapped ? 11 : 13);
    auto problem = wait_bounded(io, put_then_get_all(connection->node(), sizes), 60 * kj::SECONDS);
    CHECK(problem == "");
    auto batch_problem = wait_bounded(io, batch_get_all(connection->node(), sizes), 60 * kj::SECONDS);
    CHECK(batch_problem == "");
  }
}

// Sends `count` gets at once; each outcome is "answered" or the exception type.
kj::Promise<kj::Array<kj::String>> gets_in_flight(wire::Node::Client node, std::size_t count) {
  auto calls = kj::heapArrayBuilder<kj::Promise<kj::String>>(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto get = node.getRequest();
    const auto key = key_of(i);
    get.setKey(kj::ArrayPtr<const byte>(reinterpret_cast<const byte*>(key.data()), key.size()));
    calls.add(get.send().then([](auto&&) { return kj::str("answered"); },
                              [](kj::Exception&& e) { return outcome_of(e); }));
  }
  return kj::joinPromises(calls.finish());
}

TEST_CASE("a node killed with large answers in flight: callers get DISCONNECTED at once") {
  for (bool coalesce : {true, false}) {
    CAPTURE(coalesce);
    NodeChild node_process({});
    auto io = kj::setupAsyncIo();
    auto connection = connect_to(io, node_process.port(), coalesce);
    // 16 values of 200 KiB, then 16 gets in flight: 3.2 MiB of answers, so the
    // node dies with answers half sent.
    std::vector<std::size_t> sizes(16, 200 * 1024);
    REQUIRE(wait_bounded(io, put_then_get_all(connection->node(), sizes), 30 * kj::SECONDS) == "");
    auto outcomes = gets_in_flight(connection->node(), 16);
    // Let the calls leave and the answers start to arrive, then kill.
    io.provider->getTimer().afterDelay(1 * kj::MILLISECONDS).wait(io.waitScope);
    node_process.kill_now();
    const auto start = std::chrono::steady_clock::now();
    auto results = wait_bounded(io, kj::mv(outcomes), 10 * kj::SECONDS);
    const auto waited = std::chrono::steady_clock::now() - start;
    for (auto& r : results) {
      CHECK((r == "DISCONNECTED" || r == "answered"));
    }
    CHECK(waited < std::chrono::seconds(1));
    // A call made after the death fails too, just as fast.
    auto after = gets_in_flight(connection->node(), 1);
    auto late = wait_bounded(io, kj::mv(after), 5 * kj::SECONDS);
    CHECK(late[0] == "DISCONNECTED");
  }
}

TEST_CASE("a server that sends half a message and hangs up: calls fail with DISCONNECTED") {
  for (bool coalesce : {true, false}) {
    CAPTURE(coalesce);
    auto io = kj::setupAsyncIo();
    auto& network = io.provider->getNetwork();
    auto address = network.parseAddress("127.0.0.1", 0).wait(io.waitScope);
    auto listener = address->listen();
    const auto port = static_cast<std::uint16_t>(listener->getPort());
    // The fake server: reads whatever arrives first, sends the header of a
    // one-segment frame announcing 1000 words and 92 bytes of its body, and
    // closes.
    auto bytes = kj::heapArray<byte>(100);
    memset(bytes.begin(), 0, bytes.size());
    const std::uint32_t header[2] = {0, 1000};  // segment count - 1, segment words
    memcpy(bytes.begin(), header, sizeof(header));
    auto server = listener->accept().then([&](kj::Own<kj::AsyncIoStream> stream) {
      auto sink = kj::heapArray<byte>(64 * 1024);
      auto read = stream->tryRead(sink.begin(), 1, sink.size());
      return read.attach(kj::mv(sink))
          .then([&, stream = kj::mv(stream)](size_t) mutable {
            auto s = stream.get();
            return s->write(bytes.begin(), bytes.size())
                .then([s]() { s->shutdownWrite(); })
                .attach(kj::mv(stream));
          });
    });
    auto connection = connect_to(io, port, coalesce);
    auto outcomes = gets_in_flight(connection->node(), 16);
    const auto start = std::chrono::steady_clock::now();
    wait_bounded(io, kj::mv(server), 5 * kj::SECONDS);
    auto results = wait_bounded(io, kj::mv(outcomes), 5 * kj::SECONDS);
    const auto waited = std::chrono::steady_clock::now() - start;
    for (auto& r : results) {
      CHECK(r == "DISCONNECTED");
    }
    CHECK(waited < std::chrono::seconds(1));
  }
}

}  // namespace
}  // namespace discache
