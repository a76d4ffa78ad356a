#include "member_views.h"

#include <kj/debug.h>

#include <algorithm>
#include <sstream>

#include "member_wire.h"

namespace discache::bench {
namespace {

// Every task wraps its own failure handling; reaching here is our bug.
class FailOnTaskError final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& exception) override {
    KJ_LOG(ERROR, "membership-bench: unexpected task failure", exception);
  }
};

constexpr auto kConnectTimeout = 5 * kj::SECONDS;

kj::Duration to_kj(std::chrono::nanoseconds duration) {
  return std::max<std::int64_t>(duration.count(), 0) * kj::NANOSECONDS;
}

}  // namespace

// Receives the lists one node pushes after each change.
class MemberViews::ListReceiver final : public wire::MemberWatcher::Server {
 public:
  ListReceiver(MemberViews& views, std::size_t index, std::uint64_t generation)
      : views_(views), index_(index), generation_(generation) {}

  kj::Promise<void> changed(ChangedContext context) override {
    views_.apply(index_, generation_, read_member_list(context.getParams().getList()));
    return kj::READY_NOW;
  }

 private:
  MemberViews& views_;
  std::size_t index_;
  std::uint64_t generation_;
};

struct MemberViews::Waiting {
  std::vector<Goal> goals;
  std::vector<std::optional<Clock::time_point>> met;
  Clock::time_point deadline;
};

MemberViews::MemberViews(kj::AsyncIoContext& io, std::chrono::milliseconds poll_interval)
    : io_(io),
      poll_interval_(poll_interval),
      task_errors_(kj::heap<FailOnTaskError>()),
      tasks_(*task_errors_) {}

MemberViews::~MemberViews() {
  clear();
}

kj::Promise<void> MemberViews::observe(std::size_t index, std::string node, Endpoint address) {
  if (views_.size() <= index) {
    views_.resize(index + 1);
    links_.resize(index + 1);
  }
  drop_link(index);
  const std::uint64_t generation = next_generation_++;
  views_[index] = View{std::move(node), true, std::nullopt};
  links_[index].generation = generation;

  auto connected = io_.provider->getTimer().timeoutAfter(
      kConnectTimeout, NodeConnection::connect(io_.provider->getNetwork(), address, "",
                                               "discache-membership-bench"));
  auto first_list = connected.then([this, index, generation](kj::Own<NodeConnection> connection) {
    Link& link = links_[index];
    link.connection = kj::mv(connection);
    tasks_.add(
        link.canceler->wrap(link.connection->on_disconnect())
            .then(
                [this, index, generation]() {
                  lost(index, generation, KJ_EXCEPTION(DISCONNECTED, "connection closed"));
                },
                [this, index, generation](kj::Exception&& e) { lost(index, generation, e); }));
    if (poll_interval_.count() == 0) {
      auto request = link.connection->node().watchRequest();
      request.setWatcher(kj::heap<ListReceiver>(*this, index, generation));
      return request.send().then(
          [this, index, generation](capnp::Response<wire::Node::WatchResults> response) {
            if (links_[index].generation == generation) {
              links_[index].handle = response.getHandle();
            }
            apply(index, generation, read_member_list(response.getList()));
          });
    }
    return link.connection->node().membersRequest().send().then(
        [this, index, generation](capnp::Response<wire::Node::MembersResults> response) {
          apply(index, generation, read_member_list(response.getList()));
          Link& link = links_[index];
          tasks_.add(link.canceler->wrap(poll_loop(index, generation))
                         .catch_([this, index, generation](kj::Exception&& e) {
                           lost(index, generation, e);
                         }));
        });
  });
  return links_[index].canceler->wrap(kj::mv(first_list));
}

kj::Promise<void> MemberViews::poll_loop(std::size_t index, std::uint64_t generation) {
  return io_.provider->getTimer()
      .afterDelay(poll_interval_.count() * kj::MILLISECONDS)
      .then([this, index]() { return links_[index].connection->node().membersRequest().send(); })
      .then([this, index, generation](capnp::Response<wire::Node::MembersResults> response) {
        apply(index, generation, read_member_list(response.getList()));
        return poll_loop(index, generation);
      });
}

void MemberViews::apply(std::size_t index, std::uint64_t generation, MemberList list) {
  if (index >= views_.size() || links_[index].generation != generation || !views_[index].observed) {
    return;  // a list from a connection we have dropped
  }
  auto& current = views_[index].list;
  // A watch's first answer and a push can cross: keep the newest.
  if (!current || list.epoch >= current->epoch) {
    current = std::move(list);
    wake();
  }
}

void MemberViews::lost(std::size_t index, std::uint64_t generation,
                       const kj::Exception& exception) {
  if (index >= views_.size() || links_[index].generation != generation || !views_[index].observed) {
    return;  // forgotten on purpose
  }
  if (!broken_) {
    broken_ = "lost the connection to " + views_[index].node + ": " +
              std::string(exception.getDescription().cStr());
  }
  wake();
}

void MemberViews::drop_link(std::size_t index) {
  Link& link = links_[index];
  link.canceler->cancel("no longer observed");
  link.handle = nullptr;
  link.connection = nullptr;
  link.generation = 0;
}

void MemberViews::forget(std::size_t index) {
  views_.at(index).observed = false;
  drop_link(index);
}

void MemberViews::clear() {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    drop_link(i);
  }
  views_.clear();
  links_.clear();
  broken_.reset();
}

void MemberViews::wake() {
  if (changed_) {
    auto fulfiller = kj::mv(changed_);
    fulfiller->fulfill();
  }
}

kj::Promise<MemberViews::Reached> MemberViews::wait_for(std::vector<Goal> goals,
                                                        Clock::time_point deadline) {
  auto waiting = kj::heap<Waiting>();
  waiting->met.resize(goals.size());
  waiting->goals = std::move(goals);
  waiting->deadline = deadline;
  auto& ref = *waiting;
  return wait_step(ref)
      .then([this, &ref]() {
        Reached reached{ref.met, {}};
        for (std::size_t i = 0; i < ref.goals.size(); ++i) {
          if (!ref.met[i]) {
            reached.missed += (reached.missed.empty() ? "" : "; ") + ref.goals[i].what;
          }
        }
        if (!reached.missed.empty()) {
          reached.missed += describe();
        }
        return reached;
      })
      .attach(kj::mv(waiting));
}

kj::Promise<void> MemberViews::wait_step(Waiting& waiting) {
  const auto now = Clock::now();
  bool all_met = true;
  for (std::size_t i = 0; i < waiting.goals.size(); ++i) {
    if (!waiting.met[i] && waiting.goals[i].condition(views_)) {
      waiting.met[i] = now;
    }
    all_met = all_met && waiting.met[i].has_value();
  }
  if (broken_) {
    return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                         kj::str(broken_->c_str()));
  }
  if (all_met || now >= waiting.deadline) {
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  changed_ = kj::mv(paf.fulfiller);
  return paf.promise
      .exclusiveJoin(io_.provider->getTimer().afterDelay(to_kj(waiting.deadline - now)))
      .then([this, &waiting]() { return wait_step(waiting); });
}

std::string MemberViews::describe() const {
  std::ostringstream out;
  for (const auto& view : views_) {
    if (!view.observed) {
      continue;
    }
    out << "\n  " << view.node << " sees:";
    if (!view.list) {
      out << " (no list yet)";
      continue;
    }
    auto members = view.list->members;
    std::sort(members.begin(), members.end(),
              [](const Member& a, const Member& b) { return a.name < b.name; });
    for (const auto& m : members) {
      out << " " << m.name << "=" << to_string(m.state);
    }
    out << " (epoch " << view.list->epoch << ")";
  }
  return out.str();
}

}  // namespace discache::bench
