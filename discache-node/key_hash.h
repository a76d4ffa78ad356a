// The hash a node files a key under: one 64-bit value, computed once per
// operation, from which the shard, the index bucket and the tag are all cut.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string_view>

namespace discache::node {

struct KeyHash {
  std::uint64_t value = 0;
};

// A seed different from the client's ring hash (XXH3 with seed 0): every key
// a node receives lies in the node's arcs of the ring, so reusing the ring's
// hash would leave the node's buckets and shards unevenly filled.
inline constexpr std::uint64_t kNodeHashSeed = 0x9e3779b97f4a7c15ULL;

inline KeyHash hash_key(std::string_view key) noexcept {
  return KeyHash{XXH3_64bits_withSeed(key.data(), key.size(), kNodeHashSeed)};
}

}  // namespace discache::node
