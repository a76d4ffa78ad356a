// Memory sizes as operators type them: 64MiB, 2GiB, 512KiB, or plain bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace discache::node {

// Bytes for "<number>[unit]" with unit KiB, MiB, GiB (or K, M, G: the same
// powers of 1024, as memcached's -m means MiB); no unit means bytes. nullopt
// if malformed or over 2^63.
std::optional<std::uint64_t> parse_size_bytes(std::string_view text);

// "32 MiB", "1.5 GiB", "900 bytes": for messages that name a limit.
std::string format_size(std::uint64_t bytes);

}  // namespace discache::node
