// ItemIndex: a cuckoo table keeps every entry findable up to its load limit.
#include "item_index.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace discache::node {
namespace {

struct Table {
  explicit Table(std::size_t buckets)
      : memory(ItemIndex::bytes_for(buckets)), index(memory.data(), buckets) {}
  std::vector<std::byte> memory;
  ItemIndex index;
};

// Keys are "key-N", stored under ref N+1.
KeyHash hash_of(std::size_t n) {
  return hash_key("key-" + std::to_string(n));
}

TEST_CASE("entries are found, replaced and erased") {
  Table t(64);
  for (std::size_t n = 0; n < 100; ++n) {
    REQUIRE(t.index.insert(hash_of(n), static_cast<BlockRef>(n + 1)));
  }
  CHECK(t.index.size() == 100);
  for (std::size_t n = 0; n < 100; ++n) {
    const BlockRef want = static_cast<BlockRef>(n + 1);
    CHECK(t.index.find(hash_of(n), [&](BlockRef r) { return r == want; }) == want);
  }
  CHECK(t.index.replace(hash_of(5), 6, 1000));
  CHECK(t.index.find(hash_of(5), [](BlockRef r) { return r == 1000; }) == 1000);
  CHECK(t.index.erase(hash_of(5), 1000));
  CHECK_FALSE(t.index.erase(hash_of(5), 1000));
  CHECK(t.index.find(hash_of(5), [](BlockRef r) { return r == 1000; }) == kNoBlock);
  CHECK(t.index.size() == 99);
}

TEST_CASE("inserts succeed up to the growth threshold, and a failed insert changes nothing") {
  constexpr std::size_t kBuckets = 1024;
  Table t(kBuckets);
  std::size_t n = 0;
  while (!t.index.needs_growth(n + 1)) {
    REQUIRE_MESSAGE(t.index.insert(hash_of(n), static_cast<BlockRef>(n + 1)), "at load ",
                    static_cast<double>(n) / static_cast<double>(t.index.slots()));
    ++n;
  }
  CHECK(n >= static_cast<std::size_t>(0.89 * static_cast<double>(t.index.slots())));
  // Past the threshold, keep inserting until one fails (a full table).
  std::size_t inserted = n;
  for (; inserted < t.index.slots(); ++inserted) {
    if (!t.index.insert(hash_of(inserted), static_cast<BlockRef>(inserted + 1))) {
      break;
    }
  }
  CHECK(t.index.size() == inserted);
  for (std::size_t k = 0; k < inserted; ++k) {
    const BlockRef want = static_cast<BlockRef>(k + 1);
    REQUIRE(t.index.find(hash_of(k), [&](BlockRef r) { return r == want; }) == want);
  }
}

}  // namespace
}  // namespace discache::node
