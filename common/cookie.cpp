#include "cookie.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace discache {

std::expected<std::string, Error> load_cookie(const std::optional<std::string>& file) {
  std::string cookie;
  std::string source;
  if (file) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      return std::unexpected(
          Error{Errc::invalid_argument, "cannot read the cookie file " + *file});
    }
    std::ostringstream text;
    text << in.rdbuf();
    cookie = text.str();
    source = "the cookie file " + *file;
  } else if (const char* env = std::getenv(kCookieEnv); env != nullptr) {
    cookie = env;
    source = std::string("$") + kCookieEnv;
  } else {
    return std::string();
  }
  while (!cookie.empty() && (cookie.back() == '\n' || cookie.back() == '\r' ||
                             cookie.back() == ' ' || cookie.back() == '\t')) {
    cookie.pop_back();
  }
  if (cookie.empty()) {
    return std::unexpected(Error{Errc::invalid_argument, source + " is empty"});
  }
  if (cookie.size() > kMaxCookieBytes) {
    return std::unexpected(Error{Errc::invalid_argument, source + " is over 1 KiB"});
  }
  return cookie;
}

bool cookie_matches(std::string_view expected, std::string_view given) noexcept {
  // Every byte of `expected` is looked at whatever `given` holds.
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(expected[i]) ^ g);
  }
  return diff == 0;
}

}  // namespace discache
