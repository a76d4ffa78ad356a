// How many cores this process may really use.
#pragma once

#include <cstddef>

namespace discache::node {

// Any thread. The cores the process may run on (sched_getaffinity), lowered
// to a cgroup CPU quota if one is set (cgroup v2 cpu.max or v1
// cpu.cfs_quota_us, rounded up): a 2-CPU container on a 64-core host is 2,
// where std::thread::hardware_concurrency() says 64. At least 1.
std::size_t usable_cores();

}  // namespace discache::node
