#include "resident_memory.h"

#include <malloc.h>

#include <cstdio>
#include <cstring>

namespace discache::node {

std::uint64_t resident_bytes() noexcept {
  // stdio rather than iostreams: this runs inside a stats call, and must
  // not throw.
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) {
    return 0;
  }
  char line[256];
  std::uint64_t kib = 0;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    unsigned long long value = 0;
    if (std::strncmp(line, "VmRSS:", 6) == 0 && std::sscanf(line + 6, "%llu", &value) == 1) {
      kib = value;
      break;
    }
  }
  std::fclose(status);
  return kib * 1024;
}

void release_large_buffers_when_freed() noexcept {
  // Setting the threshold also turns off glibc's dynamic adjustment of it
  // (and of the trim threshold), which is the point.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

}  // namespace discache::node
