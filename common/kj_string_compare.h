// Built into every file by clang only (meson.build adds -include): clang 16+
// implements P2468R2, under which kj 0.9.2's StringPtr (operator== and !=
// as members) no longer matches `const char* == StringPtr` in C++20 and
// later, and kj drops its free operator for C++20. capnp/blob.h needs it.
// g++ 12 predates P2468R2 and needs none of this.
#pragma once

#include <kj/string.h>

namespace kj {

// Member calls spelled out: `b == a` would pick these again, reversed.
inline bool operator==(const char* a, const StringPtr& b) {
  return b.operator==(StringPtr(a));
}
inline bool operator==(const char* a, const String& b) {
  return StringPtr(b).operator==(StringPtr(a));
}

}  // namespace kj
