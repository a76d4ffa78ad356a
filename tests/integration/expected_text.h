// Failure text of a std::expected, safe to put in any doctest message.
#pragma once

#include <discache/error.hpp>

#include <expected>
#include <string>

namespace discache::testing {

// Why `result` failed; "" when it holds a value. doctest also builds the
// message of a passing assertion (under -s), so a message must never call
// .error() on a success: use REQUIRE_MESSAGE(r, why(r)).
template <typename T>
std::string why(const std::expected<T, std::string>& result) {
  return result ? std::string() : result.error();
}

template <typename T>
std::string why(const std::expected<T, discache::Error>& result) {
  return result ? std::string() : result.error().describe();
}

}  // namespace discache::testing
