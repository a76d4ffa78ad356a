// std::chrono durations as KJ durations, for KJ timers.
#pragma once

#include <kj/time.h>

#include <chrono>

namespace discache {

inline kj::Duration to_kj(std::chrono::milliseconds ms) { return ms.count() * kj::MILLISECONDS; }

}  // namespace discache
