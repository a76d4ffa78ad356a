// VersionClock: a hybrid logical clock. These check what holds whatever the
// wall clock reads: each version is above every one made or observed before.
#include "version_clock.h"

#include <doctest/doctest.h>

#include <cstdint>

namespace discache {
namespace {

constexpr std::uint64_t kWriterMask = (std::uint64_t{1} << VersionClock::kWriterBits) - 1;

TEST_CASE("versions grow and carry the writer id") {
  VersionClock clock(0x1234);
  std::uint64_t last = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t v = clock.next();
    CHECK(v > last);
    CHECK((v & kWriterMask) == 0x1234);
    last = v;
  }
}

TEST_CASE("a writer id is cut to its 14 bits") {
  VersionClock clock(0xffff);
  CHECK((clock.next() & kWriterMask) == 0x3fff);
}

// Regression (issue 14): a client whose wall clock ran behind stamped
// versions below ones it had seen, and its writes were dropped.
TEST_CASE("after observing a version from a clock far ahead, the next version is above it") {
  VersionClock behind(1);
  const std::uint64_t now = behind.next();
  // Another writer, an hour ahead, with a higher writer id.
  const std::uint64_t hour_us = 3600ull * 1000 * 1000;
  const std::uint64_t ahead =
      ((VersionClock::ticks_of(now) + hour_us) << VersionClock::kWriterBits) | 0x3fff;
  behind.observe(ahead);
  const std::uint64_t next = behind.next();
  CHECK(next > ahead);
  // One tick past it: logical time, not a jump of its own.
  CHECK(VersionClock::ticks_of(next) == VersionClock::ticks_of(ahead) + 1);
  CHECK(behind.next() > next);
}

TEST_CASE("observing an older version or none changes nothing") {
  VersionClock clock(2);
  const std::uint64_t first = clock.next();
  clock.observe(0);
  clock.observe(first >> 1);
  const std::uint64_t second = clock.next();
  CHECK(second > first);
  // Still the wall clock's time, not pushed anywhere (the bound is loose so
  // that a descheduled test process cannot fail it).
  CHECK(VersionClock::ticks_of(second) - VersionClock::ticks_of(first) < 60'000'000);
}

TEST_CASE("two clocks that observe each other's versions order their writes") {
  VersionClock a(1);
  VersionClock b(2);
  std::uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    VersionClock& writer = i % 2 == 0 ? a : b;
    writer.observe(last);
    const std::uint64_t v = writer.next();
    CHECK(v > last);
    last = v;
  }
}

}  // namespace
}  // namespace discache
