// StallWatch: a stopped loop is told from a busy one by its CPU time.
#include "stall_watch.h"

#include <doctest/doctest.h>

namespace discache::node {
namespace {

using namespace std::chrono_literals;
using Nanos = StallWatch::Nanos;

TEST_CASE("nothing is overdue before the first tick, however long the start took") {
  StallWatch watch(1s);
  CHECK_FALSE(watch.overdue(Nanos(100s)));
  CHECK_FALSE(watch.tick(Nanos(100s), Nanos(0)));
  CHECK_FALSE(watch.overdue(Nanos(100s) + 250ms));
}

TEST_CASE("ticks on time are never a stall") {
  StallWatch watch(1s);
  CHECK(watch.tick_interval() == 250ms);
  Nanos now(10s);
  watch.tick(now, Nanos(0));
  for (int i = 0; i < 10; ++i) {
    now += 260ms;  // a little late, idle (no CPU)
    CHECK_FALSE(watch.overdue(now));
    CHECK_FALSE(watch.tick(now, Nanos(0)));
  }
}

TEST_CASE("a stop longer than the threshold is a stall, reported once") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), Nanos(5ms));
  const Nanos thawed = Nanos(10s) + 2s;
  REQUIRE(watch.overdue(thawed));
  auto stall = watch.tick(thawed, Nanos(6ms));
  REQUIRE(stall);
  CHECK(stall->began == Nanos(10s));
  CHECK(stall->off_cpu == 2s - 1ms);
  // The next look starts from the thaw.
  CHECK_FALSE(watch.overdue(thawed + 10ms));
  CHECK_FALSE(watch.tick(thawed + 250ms, Nanos(7ms)));
}

TEST_CASE("a busy turn as long is not a stall: the thread ran") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), Nanos(1s));
  const Nanos later = Nanos(10s) + 3s;
  CHECK(watch.overdue(later));                         // the cheap test cannot tell ...
  CHECK_FALSE(watch.tick(later, Nanos(1s) + 2900ms));  // ... the CPU time can
}

TEST_CASE("a busy turn that was also stopped counts only the stopped time") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), Nanos(0));
  // 3 s went by, the thread ran 1.5 s of it: off the CPU 1.5 s.
  auto stall = watch.tick(Nanos(13s), Nanos(1500ms));
  REQUIRE(stall);
  CHECK(stall->off_cpu == 1500ms);
}

TEST_CASE("a zero threshold never reports") {
  StallWatch watch(Nanos(0));
  CHECK_FALSE(watch.enabled());
  watch.tick(Nanos(1s), Nanos(0));
  CHECK_FALSE(watch.overdue(Nanos(100s)));
  CHECK_FALSE(watch.tick(Nanos(100s), Nanos(0)));
}

}  // namespace
}  // namespace discache::node
