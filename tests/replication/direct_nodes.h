// Calls on one node at a time, bypassing the ring: versioned writes that
// reach a single owner (as a client's write that reached W=1 owner before
// the client died), and what exactly that owner holds.
#pragma once

#include <kj/async-io.h>

#include <cstdint>
#include <string>
#include <vector>

#include "discache.capnp.h"

namespace discache::testing {

// What one node holds for a key, asked of that node alone.
struct Held {
  bool found = false;         // a value (not a miss)
  std::uint64_t version = 0;  // the value's, or the tombstone's on a miss (0: none)
  std::string value;
};

// A versioned write for put_all.
struct VersionedPut {
  std::string key;
  std::string value;
  std::uint64_t version = 0;
};

// Over discache's own NodeConnection, a fresh connection per call, on this
// thread's KJ event loop (so one DirectNodes per thread, and none on a
// thread that runs another KJ loop). A call fails (throws) after 5 s
// (put_all: 5 minutes).
class DirectNodes {
 public:
  DirectNodes();

  Held get(const std::string& address, const std::string& key);
  // A versioned put (value non-null) or delete to that node only; the op's status.
  wire::Status write(const std::string& address, const std::string& key, const std::string* value,
                     std::uint64_t version);
  // Many versioned puts in batches of 256; how many the node applied.
  std::size_t put_all(const std::string& address, const std::vector<VersionedPut>& puts);
  // The node's stats.
  struct AntiEntropyFigures {
    std::uint64_t rounds = 0;
    std::uint64_t repaired = 0;
    std::uint64_t bytes = 0;
  };
  AntiEntropyFigures anti_entropy(const std::string& address);

 private:
  template <typename Body>
  void call(const std::string& address, Body&& body, kj::Duration timeout = 5 * kj::SECONDS);

  kj::AsyncIoContext io_;
};

}  // namespace discache::testing
