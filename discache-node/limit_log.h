// Log lines for limits hit by connections, at most one per kind every few
// seconds: a flood of hostile connections must not flood the log too.
#pragma once

#include <kj/timer.h>

#include <array>
#include <cstdint>
#include <string>

namespace discache::node {

enum class LimitKind : std::uint8_t {
  idle,              // closed: nothing moved for --idle-timeout
  idle_not_reading,  // the same, with answers the peer never read
  not_reading,       // stopped reading a peer's requests: it does not read
  calls_in_flight,   // closed: over --max-calls-in-flight
  bad_message,       // closed: an oversized or malformed frame
  accept_failed,     // accept() failed (e.g. out of file descriptors); retried
  tls_handshake,     // closed: a TLS handshake failed or took too long
  tls_plaintext,     // closed: a peer spoke plain Cap'n Proto to a TLS node
  budget_full,       // paused reads: the in-flight budget is spent
  frame_refused,     // closed: a message larger than the budget can hold
  read_timeout,      // closed: a message took over --read-timeout to arrive
  answers_not_taken, // closed: its answers did not move for --read-timeout
  count
};

// Event-loop thread only.
class LimitLog {
 public:
  static constexpr kj::Duration kQuietPeriod = 10 * kj::SECONDS;

  LimitLog(std::string node_name, const kj::Timer& timer);

  // Writes "discache-node[NAME]: LINE" to stderr unless a line of this kind
  // went out within kQuietPeriod; such a line is only counted, and the next
  // one of its kind says how many were left out.
  void write(LimitKind kind, const std::string& line);
  // Every event of `kind` so far, written or not.
  std::uint64_t count(LimitKind kind) const { return kinds_[static_cast<int>(kind)].total; }

 private:
  struct Kind {
    kj::Maybe<kj::TimePoint> last_written;
    std::uint64_t suppressed = 0;
    std::uint64_t total = 0;
  };
  std::string node_name_;
  const kj::Timer& timer_;
  std::array<Kind, static_cast<int>(LimitKind::count)> kinds_{};
};

}  // namespace discache::node
