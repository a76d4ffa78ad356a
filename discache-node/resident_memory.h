// The process's resident memory, as the kernel counts it.
#pragma once

#include <cstdint>

namespace discache::node {

// VmRSS of this process in bytes, from /proc/self/status; 0 if unreadable.
std::uint64_t resident_bytes() noexcept;

}  // namespace discache::node
