// Pushes member-list changes to subscribed clients (Node.watch).
#pragma once

#include <kj/async.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "discache.capnp.h"
#include <discache/member.hpp>

namespace discache::node {

// Event-loop thread only. One notification in flight per watcher; changes
// that happen meanwhile collapse into one more push of the latest list.
class MemberWatchers {
 public:
  using Snapshot = std::function<MemberList()>;
  explicit MemberWatchers(Snapshot snapshot);
  ~MemberWatchers();

  // Subscribes `watcher`; the subscription ends when the handle is dropped.
  wire::WatchHandle::Client add(wire::MemberWatcher::Client watcher);
  // Schedules one push of the current list to every watcher (coalesced per turn).
  void changed();
  std::size_t size() const { return entries_.size(); }

 private:
  class Handle;
  struct Entry {
    wire::MemberWatcher::Client watcher;
    bool in_flight = false;
    bool dirty = false;
  };
  void push(std::uint64_t id);
  void remove(std::uint64_t id) { entries_.erase(id); }

  Snapshot snapshot_;
  std::map<std::uint64_t, Entry> entries_;
  std::uint64_t next_id_ = 1;
  bool scheduled_ = false;
  kj::Own<kj::TaskSet::ErrorHandler> errors_;
  kj::TaskSet tasks_;
  // Handles outliving this object (held by remote peers) must not call back.
  std::shared_ptr<MemberWatchers*> self_;
};

}  // namespace discache::node
