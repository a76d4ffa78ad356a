// The cluster's shared secret: loading it and comparing it safely.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <discache/error.hpp>

namespace discache {

inline constexpr std::size_t kMaxCookieBytes = 1024;
inline constexpr const char* kCookieEnv = "DISCACHE_COOKIE";

// The cookie from `file` when given, else from $DISCACHE_COOKIE, else "" (no
// cookie). Trailing newlines and spaces are dropped. Errors name the file,
// never the secret: invalid_argument (unreadable, empty, over 1 KiB).
std::expected<std::string, Error> load_cookie(const std::optional<std::string>& file);

// Compares in time that depends only on the lengths, not on where the first
// difference is, so a stranger cannot guess the cookie byte by byte.
bool cookie_matches(std::string_view expected, std::string_view given) noexcept;

}  // namespace discache
