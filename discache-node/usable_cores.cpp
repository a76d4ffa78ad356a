#include "usable_cores.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace discache::node {
namespace {

// quota / period rounded up, when both read as positive numbers.
std::optional<std::size_t> cores_of_quota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return static_cast<std::size_t>((quota + period - 1) / period);
}

std::optional<std::size_t> cgroup_quota_cores() {
  // cgroup v2: "max 100000" (no quota) or "200000 100000".
  if (std::ifstream v2("/sys/fs/cgroup/cpu.max"); v2) {
    std::string quota;
    long long period = 0;
    if (v2 >> quota >> period && quota != "max") {
      try {
        return cores_of_quota(std::stoll(quota), period);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::ifstream quota_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream period_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long long quota = 0;
  long long period = 0;
  if (quota_file >> quota && period_file >> period) {
    return cores_of_quota(quota, period);
  }
  return std::nullopt;
}

}  // namespace

std::size_t usable_cores() {
  std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    cores = std::max(1, CPU_COUNT(&set));
  }
  if (auto quota = cgroup_quota_cores()) {
    cores = std::min(cores, std::max<std::size_t>(1, *quota));
  }
  return cores;
}

}  // namespace discache::node
