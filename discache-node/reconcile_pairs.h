// Which node of a pair starts their anti-entropy exchange. Header-only, so
// tests can choose node names without linking the node.
#pragma once

#include <xxhash.h>

#include <string>

namespace discache::node {

// Whether `self` starts the exchange with `peer` (else the peer does): one
// of each pair, chosen by a hash of the two names so that each node starts
// about half of its exchanges and answers the other half.
inline bool starts_reconcile(const std::string& self, const std::string& peer) {
  const bool self_first = self < peer;
  const std::string pair = self_first ? self + '\0' + peer : peer + '\0' + self;
  const bool first_starts = (XXH3_64bits(pair.data(), pair.size()) & 1) == 0;
  return self_first == first_starts;
}

}  // namespace discache::node
