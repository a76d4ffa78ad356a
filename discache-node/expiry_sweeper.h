// The background half of TTL: expired items that nobody reads again still
// give their memory back, a bounded slice at a time.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <cstddef>
#include <cstdint>

#include "sharded_store.h"

namespace discache::node {

struct SweepSchedule {
  kj::Duration interval = 100 * kj::MILLISECONDS;
  // Blocks looked at per shard and tick. A block costs a few ns to check
  // (headers are read in address order), so 8192 is ~50 us per 100 ms, and
  // a 64 MiB shard of 150-byte items (~450k blocks) is swept every ~6 s.
  std::size_t blocks_per_tick = 8192;
};

// Event-loop thread only (the thread owning the store). Sweeps every
// `schedule.interval` until the promise is cancelled; `now_ms` is the same
// wall clock the store's callers pass.
kj::Promise<void> run_expiry_sweeper(ShardedStore& store, kj::Timer& timer,
                                     SweepSchedule schedule, std::uint64_t (*now_ms)());

}  // namespace discache::node
