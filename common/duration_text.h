// Durations as operators type them: 500ms, 30s, 5m, 1h (a bare number is seconds).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace discache {

// Milliseconds for "<number><unit>" with unit ms, s, m or h; nullopt if malformed.
std::optional<std::uint64_t> parse_duration_ms(std::string_view text);

}  // namespace discache
