#include <discache/error.hpp>

namespace discache {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::not_found: return "not_found";
    case Errc::exists: return "exists";
    case Errc::version_mismatch: return "version_mismatch";
    case Errc::too_large: return "too_large";
    case Errc::out_of_memory: return "out_of_memory";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::unavailable: return "unavailable";
    case Errc::timeout: return "timeout";
    case Errc::no_seed: return "no_seed";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::protocol: return "protocol";
    case Errc::would_deadlock: return "would_deadlock";
    case Errc::internal: return "internal";
    case Errc::tls: return "tls";
    case Errc::overloaded: return "overloaded";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out(to_string(code));
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

}  // namespace discache
