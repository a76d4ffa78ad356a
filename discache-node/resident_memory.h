// The process's resident memory: what the kernel counts, and keeping the
// part outside the item arenas small.
#pragma once

#include <cstdint>

namespace discache::node {

// VmRSS of this process in bytes, from /proc/self/status; 0 if unreadable.
std::uint64_t resident_bytes() noexcept;

// Makes glibc hand buffers of 1 MiB and more (large RPC messages) back to
// the kernel when freed. By default glibc raises its mmap threshold after
// freeing such a buffer and then keeps later ones in its heap: after a burst
// of batches of 16 KiB values, ~9 MiB stayed resident beyond the arena.
// Call once at start-up, before threads.
void release_large_buffers_when_freed() noexcept;

}  // namespace discache::node
