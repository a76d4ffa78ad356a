#include "rebalancer.h"

#include <kj/debug.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>

#include "hash_ring.h"
#include "wire_text.h"

namespace discache::node {
namespace {

class LogErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    KJ_LOG(WARNING, "handoff task failed", e.getDescription());
  }
};

constexpr std::size_t kChunkItems = 256;  // items read per event-loop turn
constexpr auto kSendTimeout = 5 * kj::SECONDS;

bool serving(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}

struct ItemCopy {
  std::string key;
  std::string value;
  std::uint64_t version;
  std::uint64_t ttl_ms;
};

}  // namespace

struct Rebalancer::Pass {
  HashRing old_ring;
  HashRing new_ring;
  std::map<std::string, Member> members;  // by name, for addresses
  std::size_t replicas = 1;
  bool leaving = false;  // this node is going: send every key to its new owners
  std::uint64_t cursor = 0;
  std::uint64_t copies = 0;
  std::uint64_t failed = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

Rebalancer::Rebalancer(NodeContext& ctx, PeerLinks& peers, kj::Timer& timer)
    : ctx_(ctx),
      peers_(peers),
      timer_(timer),
      last_names_{ctx.members.self().name},
      errors_(kj::heap<LogErrors>()),
      tasks_(*errors_) {}

std::vector<std::string> Rebalancer::serving_names() const {
  std::vector<std::string> names;
  for (const auto& m : ctx_.members.list().members) {
    if (serving(m.state)) {
      names.push_back(m.name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

void Rebalancer::membership_changed() { schedule(); }

void Rebalancer::schedule() {
  if (scheduled_ || draining_) {
    return;
  }
  scheduled_ = true;
  // Changes come in bursts (one per merged entry): settle first.
  tasks_.add(timer_.afterDelay(100 * kj::MILLISECONDS).then([this]() {
    scheduled_ = false;
    start_if_needed();
  }));
}

void Rebalancer::start_if_needed() {
  if (running_) {
    again_ = true;
    return;
  }
  auto names = serving_names();
  if (names == last_names_ || draining_) {
    return;
  }
  auto pass = std::make_shared<Pass>();
  pass->old_ring = HashRing(last_names_);
  pass->new_ring = HashRing(names);
  for (const auto& m : ctx_.members.list().members) {
    pass->members[m.name] = m;
  }
  pass->replicas = std::max<std::uint32_t>(1, ctx_.members.list().replicas);
  last_names_ = std::move(names);
  running_ = true;
  ++ctx_.counters.handoff_runs;
  tasks_.add(run(pass).then([this]() {
    running_ = false;
    if (again_) {
      again_ = false;
      start_if_needed();
    }
  }));
}

kj::Promise<void> Rebalancer::drain(kj::Duration limit) {
  draining_ = true;
  auto pass = std::make_shared<Pass>();
  auto names = serving_names();
  const std::string& self = ctx_.members.self().name;
  if (std::find(names.begin(), names.end(), self) == names.end()) {
    names.push_back(self);  // we are `leaving` already: the old ring still has us
  }
  std::sort(names.begin(), names.end());
  auto without_self = names;
  std::erase(without_self, self);
  pass->old_ring = HashRing(names);
  pass->new_ring = HashRing(without_self);
  for (const auto& m : ctx_.members.list().members) {
    pass->members[m.name] = m;
  }
  pass->replicas = std::max<std::uint32_t>(1, ctx_.members.list().replicas);
  pass->leaving = true;
  ++ctx_.counters.handoff_runs;
  // Wait for a pass already running first: its copies are in flight.
  auto previous = running_ ? timer_.afterDelay(0 * kj::SECONDS) : kj::Promise<void>(kj::READY_NOW);
  running_ = true;
  return timer_.timeoutAfter(limit, previous.then([this, pass]() { return run(pass); }))
      .catch_([](kj::Exception&& e) {
        std::cerr << "discache-node: drain did not finish: " << e.getDescription().cStr()
                  << std::endl;
      });
}

kj::Promise<void> Rebalancer::run(std::shared_ptr<Pass> pass) {
  ctx_.counters.handoff_pending = true;
  return run_chunk(pass).then([this, pass]() {
    ctx_.counters.handoff_pending = running_ && again_;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - pass->started)
                        .count();
    std::cerr << "discache-node[" << ctx_.members.self().name << "]: handoff done: "
              << pass->copies << " copies sent"
              << (pass->failed ? ", " + std::to_string(pass->failed) + " failed" : "") << " in "
              << ms << " ms" << std::endl;
    ctx_.counters.handoff_pending = false;
  });
}

kj::Promise<void> Rebalancer::run_chunk(std::shared_ptr<Pass> pass) {
  if (!pass->leaving && ctx_.members.list().members.empty()) {
    return kj::READY_NOW;
  }
  const std::string& self = ctx_.members.self().name;
  const std::uint64_t now = NodeContext::now_ms();
  std::map<std::string, std::vector<ItemCopy>> outbox;
  std::vector<std::uint32_t> old_idx(pass->replicas);
  std::vector<std::uint32_t> new_idx(pass->replicas);

  pass->cursor = ctx_.store.scan(pass->cursor, kChunkItems, now, [&](const ScannedItem& item) {
    const std::size_t n_old = pass->old_ring.owners(item.key, old_idx);
    const std::size_t n_new = pass->new_ring.owners(item.key, new_idx);
    auto old_name = [&](std::size_t i) -> const std::string& {
      return pass->old_ring.nodes()[old_idx[i]];
    };
    auto was_owner = [&](const std::string& name) {
      for (std::size_t i = 0; i < n_old; ++i) {
        if (old_name(i) == name) {
          return true;
        }
      }
      return false;
    };
    if (!pass->leaving) {
      // Only the first old owner still serving sends; others stay quiet.
      const std::string* sender = nullptr;
      for (std::size_t i = 0; i < n_old && sender == nullptr; ++i) {
        auto it = pass->members.find(old_name(i));
        if (it != pass->members.end() && serving(it->second.state)) {
          sender = &old_name(i);
        }
      }
      if (sender == nullptr || *sender != self) {
        return;
      }
    }
    for (std::size_t i = 0; i < n_new; ++i) {
      const std::string& target = pass->new_ring.nodes()[new_idx[i]];
      if (target == self || (!pass->leaving && was_owner(target))) {
        continue;
      }
      outbox[target].push_back(ItemCopy{std::string(item.key), std::string(item.value),
                                        item.version, item.ttl_ms});
    }
  });

  kj::Vector<kj::Promise<void>> sends;
  for (auto& [target, copies] : outbox) {
    auto member = pass->members.find(target);
    if (member == pass->members.end()) {
      continue;
    }
    const std::size_t count = copies.size();
    auto send = peers_.link(member->second)
                    .then([copies = std::move(copies)](wire::Node::Client node) mutable {
                      auto request = node.batchRequest();
                      auto ops = request.initOps(static_cast<unsigned>(copies.size()));
                      for (unsigned i = 0; i < copies.size(); ++i) {
                        ops[i].setKey(data_of(copies[i].key));
                        auto put = ops[i].initPut();
                        put.setValue(data_of(copies[i].value));
                        auto options = put.initOptions();
                        options.setVersion(copies[i].version);
                        options.setTtlMs(copies[i].ttl_ms);
                      }
                      return request.send().ignoreResult();
                    });
    sends.add(timer_.timeoutAfter(kSendTimeout, kj::mv(send))
                  .then(
                      [this, pass, count]() {
                        pass->copies += count;
                        ctx_.counters.handoff_keys += count;
                      },
                      [this, pass, count, name = target](kj::Exception&&) {
                        pass->failed += count;
                        peers_.drop(name);
                      }));
  }
  return kj::joinPromises(sends.releaseAsArray()).then([this, pass]() -> kj::Promise<void> {
    if (pass->cursor == 0) {
      return kj::READY_NOW;
    }
    // Yield between chunks so serving clients never waits behind a handoff.
    return kj::evalLater([this, pass]() { return run_chunk(pass); });
  });
}

}  // namespace discache::node
