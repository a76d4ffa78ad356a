#include "member_watchers.h"

#include <kj/debug.h>

#include "member_wire.h"
#include "task_failures.h"

namespace discache::node {
class MemberWatchers::Handle final : public wire::WatchHandle::Server {
 public:
  Handle(std::shared_ptr<MemberWatchers*> owner, std::uint64_t id) : owner_(std::move(owner)), id_(id) {}
  ~Handle() {
    if (*owner_ != nullptr) {
      (*owner_)->remove(id_);
    }
  }

 private:
  std::shared_ptr<MemberWatchers*> owner_;
  std::uint64_t id_;
};

MemberWatchers::MemberWatchers(Snapshot snapshot)
    : snapshot_(std::move(snapshot)),
      errors_(kj::heap<IgnoreTaskFailures>()),
      tasks_(*errors_),
      self_(std::make_shared<MemberWatchers*>(this)) {}

MemberWatchers::~MemberWatchers() { *self_ = nullptr; }

wire::WatchHandle::Client MemberWatchers::add(wire::MemberWatcher::Client watcher) {
  const std::uint64_t id = next_id_++;
  entries_.emplace(id, Entry{kj::mv(watcher)});
  return kj::heap<Handle>(self_, id);
}

void MemberWatchers::changed() {
  if (scheduled_ || entries_.empty()) {
    return;
  }
  scheduled_ = true;
  // Several changes in one merge become one push, sent after the merge ends.
  tasks_.add(kj::evalLater([this]() {
    scheduled_ = false;
    std::vector<std::uint64_t> ids;
    for (auto& [id, entry] : entries_) {
      ids.push_back(id);
    }
    for (auto id : ids) {
      push(id);
    }
  }));
}

void MemberWatchers::push(std::uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return;
  }
  Entry& entry = it->second;
  if (entry.in_flight) {
    entry.dirty = true;
    return;
  }
  entry.in_flight = true;
  entry.dirty = false;
  auto request = entry.watcher.changedRequest();
  write_member_list(snapshot_(), request.initList());
  tasks_.add(request.send().then(
      [this, id](auto&&) {
        auto found = entries_.find(id);
        if (found == entries_.end()) {
          return;
        }
        found->second.in_flight = false;
        if (found->second.dirty) {
          push(id);
        }
      },
      [this, id](kj::Exception&&) {
        // The watcher is gone (its connection ended): forget it.
        entries_.erase(id);
      }));
}

}  // namespace discache::node
