// StallWatch: a stopped loop is told from a busy or a starved one by its
// scheduler counters.
#include "stall_watch.h"

#include <doctest/doctest.h>

namespace discache::node {
namespace {

using namespace std::chrono_literals;
using Nanos = StallWatch::Nanos;
using Times = StallWatch::ThreadTimes;

Times ran(Nanos on_cpu, Nanos waited = Nanos(0)) {
  return Times{on_cpu, waited};
}

TEST_CASE("nothing is overdue before the first tick, however long the start took") {
  StallWatch watch(1s);
  CHECK_FALSE(watch.overdue(Nanos(100s)));
  CHECK_FALSE(watch.tick(Nanos(100s), ran(Nanos(0))));
  CHECK_FALSE(watch.overdue(Nanos(100s) + 250ms));
}

TEST_CASE("ticks on time are never a stall") {
  StallWatch watch(1s);
  CHECK(watch.tick_interval() == 250ms);
  Nanos now(10s);
  watch.tick(now, ran(Nanos(0)));
  for (int i = 0; i < 10; ++i) {
    now += 260ms;  // a little late, idle (no CPU)
    CHECK_FALSE(watch.overdue(now));
    CHECK_FALSE(watch.tick(now, ran(Nanos(0))));
  }
}

TEST_CASE("a stop longer than the threshold is a stall, reported once") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), ran(5ms));
  const Nanos thawed = Nanos(10s) + 2s;
  REQUIRE(watch.overdue(thawed));
  auto stall = watch.tick(thawed, ran(6ms, 1ms));
  REQUIRE(stall);
  CHECK(stall->began == Nanos(10s));
  CHECK(stall->stopped == 2s - 2ms);
  // The next look starts from the thaw.
  CHECK_FALSE(watch.overdue(thawed + 10ms));
  CHECK_FALSE(watch.tick(thawed + 250ms, ran(7ms, 1ms)));
}

TEST_CASE("a busy turn as long is not a stall: the thread ran") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), ran(1s));
  const Nanos later = Nanos(10s) + 3s;
  CHECK(watch.overdue(later));                       // the cheap test cannot tell ...
  CHECK_FALSE(watch.tick(later, ran(1s + 2900ms)));  // ... the CPU time can
}

TEST_CASE("a thread starved of CPU as long is not a stall: it waited to run") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), ran(1s, 2s));
  // 3 s went by: 0.2 s running, 2.6 s runnable on a busy machine.
  CHECK_FALSE(watch.tick(Nanos(13s), ran(1200ms, 4600ms)));
}

TEST_CASE("only the time neither running nor waiting to run counts") {
  StallWatch watch(1s);
  watch.tick(Nanos(10s), ran(Nanos(0)));
  // 3 s went by: ran 1 s, waited 0.5 s, stopped 1.5 s.
  auto stall = watch.tick(Nanos(13s), ran(1s, 500ms));
  REQUIRE(stall);
  CHECK(stall->stopped == 1500ms);
}

TEST_CASE("a zero threshold never reports") {
  StallWatch watch(Nanos(0));
  CHECK_FALSE(watch.enabled());
  watch.tick(Nanos(1s), ran(Nanos(0)));
  CHECK_FALSE(watch.overdue(Nanos(100s)));
  CHECK_FALSE(watch.tick(Nanos(100s), ran(Nanos(0))));
}

}  // namespace
}  // namespace discache::node
