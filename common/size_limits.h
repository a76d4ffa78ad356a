// Size limits shared by client, node and tools, so each side checks the same
// numbers before a message is built (an oversized message kills the connection).
#pragma once

#include <cstddef>
#include <cstdint>

namespace discache::limits {

// memcached allows 250-byte keys; we allow more but keep keys small enough
// that a batch of them stays cheap.
inline constexpr std::size_t kDefaultMaxKeyBytes = 1024;
// memcached's default item size limit.
inline constexpr std::size_t kDefaultMaxValueBytes = 1024 * 1024;
// Cap'n Proto's traversal limit, which also caps one incoming message.
inline constexpr std::uint64_t kMaxMessageWords = 8 * 1024 * 1024;  // 64 MiB
// A batch call carries at most this many operations and bytes, well below
// the message limit so a full batch of maximum-size values still fits.
inline constexpr std::size_t kMaxBatchOps = 1024;
inline constexpr std::size_t kMaxBatchBytes = 8 * 1024 * 1024;

}  // namespace discache::limits
