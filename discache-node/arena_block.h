// The byte layout of one block in a shard's arena. Every block, free or
// allocated, starts with a 4-byte size word; the rest depends on its kind.
//
//   offset  free block            item block                  index block
//   0       size word             size word                   size word
//   4       -                     flags (pad, visited, ...)   flags (internal)
//   5       -                     expiry, high byte           -
//   6       -                     key length - 1 (u16)        -
//   8       next free (u32 ref)   newer in queue (u32 ref)    table ...
//   12      prev free (u32 ref)   older in queue (u32 ref)
//   16      -                     version (u64)
//   24      -                     expiry, low 32 bits
//   28      -                     key, value, pad
//   end-4   size (footer)         -
//
// An item therefore costs 28 bytes of header plus its key and value, rounded
// up to 8; the index adds about 8 more (see item_index.h). The footer lets a
// block being freed find a free block before it, to merge with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace discache::node {

// A block's position: its byte offset in the arena divided by 8, so 32 bits
// address 32 GiB. 0 is never a block (the arena's first 8 bytes are unused).
using BlockRef = std::uint32_t;
inline constexpr BlockRef kNoBlock = 0;

inline constexpr std::size_t kUnitBytes = 8;
// The size word keeps 30 bits of size in units: blocks up to 8 GiB.
inline constexpr std::uint32_t kMaxBlockUnits = (std::uint32_t{1} << 30) - 1;
// A free block needs its size word, two list links and its footer.
inline constexpr std::uint32_t kMinFreeUnits = 3;
inline constexpr std::size_t kItemHeaderBytes = 28;

// Accessors for the fields above. Offsets are fixed and fields are read with
// memcpy, which compiles to plain loads and keeps clear of aliasing rules.
class ArenaBlock {
 public:
  explicit ArenaBlock(std::byte* at) noexcept : p_(at) {}

  std::byte* data() const noexcept { return p_; }

  // ---- every block ----
  std::uint32_t units() const noexcept { return size_word() & kMaxBlockUnits; }
  std::size_t bytes() const noexcept { return std::size_t{units()} * kUnitBytes; }
  bool is_free() const noexcept { return (size_word() & kFreeBit) != 0; }
  bool prev_is_free() const noexcept { return (size_word() & kPrevFreeBit) != 0; }
  void set_size(std::uint32_t units, bool free, bool prev_free) noexcept {
    set_size_word(units | (free ? kFreeBit : 0) | (prev_free ? kPrevFreeBit : 0));
  }
  void set_prev_is_free(bool prev_free) noexcept { set_size(units(), is_free(), prev_free); }

  // ---- free blocks ----
  BlockRef next_free() const noexcept { return load<std::uint32_t>(8); }
  BlockRef prev_free() const noexcept { return load<std::uint32_t>(12); }
  void set_next_free(BlockRef r) noexcept { store<std::uint32_t>(8, r); }
  void set_prev_free(BlockRef r) noexcept { store<std::uint32_t>(12, r); }
  void write_footer() noexcept { store<std::uint32_t>(bytes() - 4, units()); }

  // ---- allocated blocks ----
  // Index tables and items being rewritten are never evicted by a range
  // eviction or looked at by the expiry sweep.
  bool is_internal() const noexcept { return (flags() & kInternalFlag) != 0; }
  bool is_pinned() const noexcept { return (flags() & kPinnedFlag) != 0; }
  void set_internal() noexcept { set_flags(kInternalFlag); }
  void set_pinned(bool pinned) noexcept {
    set_flags(pinned ? (flags() | kPinnedFlag) : (flags() & ~kPinnedFlag));
  }

  // ---- items ----
  bool visited() const noexcept { return (flags() & kVisitedFlag) != 0; }
  void set_visited(bool visited) noexcept {
    set_flags(visited ? (flags() | kVisitedFlag) : (flags() & ~kVisitedFlag));
  }
  BlockRef newer() const noexcept { return load<std::uint32_t>(8); }
  BlockRef older() const noexcept { return load<std::uint32_t>(12); }
  void set_newer(BlockRef r) noexcept { store<std::uint32_t>(8, r); }
  void set_older(BlockRef r) noexcept { store<std::uint32_t>(12, r); }

  std::uint64_t version() const noexcept { return load<std::uint64_t>(16); }
  void set_version(std::uint64_t v) noexcept { store<std::uint64_t>(16, v); }
  // 40 bits, encoded by the store (0: never expires).
  std::uint64_t expiry() const noexcept {
    return (std::uint64_t{load<std::uint8_t>(5)} << 32) | load<std::uint32_t>(24);
  }
  void set_expiry(std::uint64_t e) noexcept {
    store<std::uint8_t>(5, static_cast<std::uint8_t>(e >> 32));
    store<std::uint32_t>(24, static_cast<std::uint32_t>(e));
  }

  std::size_t key_size() const noexcept { return std::size_t{load<std::uint16_t>(6)} + 1; }
  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(p_ + kItemHeaderBytes), key_size()};
  }
  std::size_t value_size() const noexcept {
    return bytes() - kItemHeaderBytes - key_size() - (flags() & kPadMask);
  }
  std::string_view value() const noexcept {
    return {reinterpret_cast<const char*>(p_ + kItemHeaderBytes + key_size()), value_size()};
  }
  char* value_data() noexcept {
    return reinterpret_cast<char*>(p_ + kItemHeaderBytes + key_size());
  }

  // Lays out a fresh item in an allocated block of units() units; leaves the
  // value bytes and the queue links for the caller. Key size is 1..65536.
  void init_item(std::string_view key, std::size_t value_size) noexcept {
    const std::size_t pad = bytes() - kItemHeaderBytes - key.size() - value_size;
    set_flags(static_cast<std::uint8_t>(pad));
    store<std::uint16_t>(6, static_cast<std::uint16_t>(key.size() - 1));
    std::memcpy(p_ + kItemHeaderBytes, key.data(), key.size());
  }
  // For a rewrite in place: the block keeps its size, so the pad absorbs the
  // difference between the old and new value sizes.
  void resize_value(std::size_t value_size) noexcept {
    const std::size_t pad = bytes() - kItemHeaderBytes - key_size() - value_size;
    set_flags(static_cast<std::uint8_t>((flags() & ~kPadMask) | pad));
  }

  // Units an item with these sizes needs.
  static constexpr std::uint64_t units_for_item(std::size_t key_size,
                                                std::size_t value_size) noexcept {
    return (kItemHeaderBytes + key_size + value_size + kUnitBytes - 1) / kUnitBytes;
  }
  // Pad is 5 bits: alignment (< 8) plus a remainder too small to split off
  // as a free block (< kMinFreeUnits units).
  static_assert((kUnitBytes - 1) + (kMinFreeUnits - 1) * kUnitBytes <= 31);

 private:
  static constexpr std::uint32_t kFreeBit = std::uint32_t{1} << 31;
  static constexpr std::uint32_t kPrevFreeBit = std::uint32_t{1} << 30;
  static constexpr std::uint8_t kPadMask = 0x1f;
  static constexpr std::uint8_t kVisitedFlag = 0x20;
  static constexpr std::uint8_t kInternalFlag = 0x40;
  static constexpr std::uint8_t kPinnedFlag = 0x80;

  template <typename T>
  T load(std::size_t offset) const noexcept {
    T value;
    std::memcpy(&value, p_ + offset, sizeof value);
    return value;
  }
  template <typename T>
  void store(std::size_t offset, T value) noexcept {
    std::memcpy(p_ + offset, &value, sizeof value);
  }
  std::uint32_t size_word() const noexcept { return load<std::uint32_t>(0); }
  void set_size_word(std::uint32_t w) noexcept { store<std::uint32_t>(0, w); }
  std::uint8_t flags() const noexcept { return load<std::uint8_t>(4); }
  void set_flags(std::uint8_t f) noexcept { store<std::uint8_t>(4, f); }

  std::byte* p_;
};

}  // namespace discache::node
