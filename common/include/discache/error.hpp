// The one error model shared by the client library, the node and the tools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace discache {

// What went wrong. A miss is `not_found`: a value the caller branches on,
// like the original Discache's {:error, :not_found}.
enum class Errc : std::uint8_t {
  not_found = 1,     // the key has no live value
  exists,            // put_if_absent met a live value
  version_mismatch,  // compare-and-set lost against a newer write
  too_large,         // key or value over a limit; the message names it
  out_of_memory,     // the node could not make room
  invalid_argument,  // bad input from the caller (empty key, bad address, ...)
  unavailable,       // the owning node(s) cannot be reached now
  timeout,           // the operation's deadline passed
  no_seed,           // none of the seeds answered at start-up
  unauthenticated,   // the node refused our cookie
  protocol,          // the peer sent something we do not understand
  would_deadlock,    // a blocking call made on the client's own I/O thread
  internal,          // a bug: please report it
  // After `internal` so the earlier codes keep their values.
  tls,  // the TLS handshake failed: untrusted or misnamed certificate, or one
        // side does not speak TLS
  overloaded,  // the client's queued operations hold max_queued_bytes already,
               // or a node had no room to answer a get for a whole deadline
               // (its in-flight budget stayed full): try again later
};

// Stable lower-case name of a code, e.g. "not_found".
std::string_view to_string(Errc code) noexcept;

// An error value: a code to branch on and a one-line message for humans.
struct Error {
  Errc code = Errc::internal;
  std::string message;

  // True when the code is `code`.
  bool is(Errc c) const noexcept { return code == c; }
  // "code: message", or just the code when there is no message.
  std::string describe() const;
};

}  // namespace discache
