#include "node_loop.h"

#include <kj/debug.h>
#include <kj/vector.h>

#include "wire_text.h"
#include "task_failures.h"

namespace discache::node {
namespace {

KeyHash hash_of(wire::Op::Reader op) {
  return hash_key(view_of(op.getKey()));
}

}  // namespace

NodeLoop::NodeLoop(NodeContext& node, std::size_t index, kj::Timer& timer)
    : node_(node),
      index_(index),
      timer_(timer),
      ops_(*node.shards[index], node.store),
      log_(node.name(), timer),
      budget_queue_(std::make_shared<BudgetQueue>(node.in_flight_budget, timer)),
      tls_(node.tls != nullptr ? kj::heap<TlsServer>(*node.tls) : kj::Own<TlsServer>()),
      watchers_([this]() { return latest_members_; }),
      outboxes_(node.loop_count()),
      errors_(kj::heap<LogTaskFailures>("cross-loop job failed", /*disconnects_too=*/false)),
      tasks_(*errors_) {
  node_.loops[index_] = this;
  node_.executors[index_] = kj::getCurrentThreadExecutor().addRef();
}

NodeLoop::~NodeLoop() {
  node_.loops[index_] = nullptr;
}

// TODO(security): gets copy their values into `results` before the answer
// counts in the in-flight budget (docs/design.md, "The in-flight budget"):
// bound what one call's answer may hold as it is built.
kj::Promise<void> NodeLoop::apply(capnp::List<wire::Op>::Reader ops,
                                  capnp::List<wire::OpResult>::Builder results) {
  const std::size_t loops = node_.loop_count();
  if (loops == 1) {
    for (unsigned i = 0; i < ops.size(); ++i) {
      ops_.apply(ops[i], hash_of(ops[i]), results[i]);
    }
    return kj::READY_NOW;
  }
  // Ops for this loop's shard run now; the rest wait in outboxes, by loop.
  std::vector<std::vector<unsigned>> elsewhere(loops);
  for (unsigned i = 0; i < ops.size(); ++i) {
    const KeyHash hash = hash_of(ops[i]);
    const std::size_t owner = node_.store.shard_index(hash);
    if (owner == index_) {
      ops_.apply(ops[i], hash, results[i]);
    } else {
      elsewhere[owner].push_back(i);
    }
  }
  kj::Vector<kj::Promise<void>> answers;
  for (std::size_t target = 0; target < loops; ++target) {
    if (elsewhere[target].empty()) {
      continue;
    }
    answers.add(hand_over(target, ops, elsewhere[target])
                    .then([results, indices = kj::mv(elsewhere[target])](Message answer) mutable {
                      auto list =
                          answer->getRoot<wire::Node::BatchResults>().asReader().getResults();
                      for (unsigned j = 0; j < indices.size(); ++j) {
                        results.setWithCaveats(indices[j], list[j]);
                      }
                    }));
  }
  return kj::joinPromises(answers.releaseAsArray());
}

kj::Promise<NodeLoop::Message> NodeLoop::hand_over(std::size_t target,
                                                   capnp::List<wire::Op>::Reader ops,
                                                   const std::vector<unsigned>& indices) {
  // The ops are copied: the call that carried them may end (its connection
  // closes) before the owner runs them, and its message goes with it.
  std::size_t words = 8;
  for (unsigned i : indices) {
    words += ops[i].totalSize().wordCount + 2;
  }
  auto request = kj::heap<capnp::MallocMessageBuilder>(words);
  auto copies =
      request->initRoot<wire::Node::BatchParams>().initOps(static_cast<unsigned>(indices.size()));
  for (unsigned j = 0; j < indices.size(); ++j) {
    copies.setWithCaveats(j, ops[indices[j]]);
  }
  auto answer = kj::newPromiseAndFulfiller<Message>();
  Outbox& outbox = outboxes_[target];
  outbox.requests.push_back(kj::mv(request));
  outbox.answers.push_back(kj::mv(answer.fulfiller));
  shard().counters.cross_loop_ops += indices.size();
  if (!outbox.scheduled && !outbox.in_flight) {
    outbox.scheduled = true;
    // evalLast: after every message this turn read, so they share one hop.
    tasks_.add(kj::evalLast([this, target]() { send_outbox(target); }));
  }
  return kj::mv(answer.promise);
}

void NodeLoop::send_outbox(std::size_t target) {
  Outbox& outbox = outboxes_[target];
  outbox.scheduled = false;
  if (outbox.requests.empty()) {
    return;
  }
  // One job in flight per target loop: what arrives meanwhile leaves as the
  // next job, so a busy owner gets bigger batches, not more wake-ups.
  outbox.in_flight = true;
  ++shard().counters.cross_loop_hops;
  auto job = [&node = node_, target, requests = kj::mv(outbox.requests)]() mutable {
    ShardOperations ops(*node.shards[target], node.store);
    std::vector<Message> answers;
    answers.reserve(requests.size());
    for (Message& request : requests) {
      auto list = request->getRoot<wire::Node::BatchParams>().asReader().getOps();
      std::size_t words = 8 + list.size() * 8;
      for (auto op : list) {
        if (op.isGet()) {
          words += 32;  // room for a typical value, so the answer rarely needs a second segment
        }
      }
      auto answer = kj::heap<capnp::MallocMessageBuilder>(words);
      auto results = answer->initRoot<wire::Node::BatchResults>().initResults(list.size());
      for (unsigned i = 0; i < list.size(); ++i) {
        ops.apply(list[i], hash_of(list[i]), results[i]);
      }
      answers.push_back(kj::mv(answer));
    }
    return answers;
  };
  outbox.requests.clear();  // moved from: make it empty for sure
  auto fulfillers =
      std::make_shared<std::vector<kj::Own<kj::PromiseFulfiller<Message>>>>(kj::mv(outbox.answers));
  outbox.answers.clear();
  // evalNow: executeAsync throws at once if the owner's loop is gone. Then
  // the callers fail with that exception (DISCONNECTED: clients retry on
  // another replica) instead of waiting for ever.
  tasks_.add(kj::evalNow([&]() { return run_on(target, kj::mv(job)); })
                 .then(
                     [fulfillers](std::vector<Message> answers) {
                       for (std::size_t i = 0; i < fulfillers->size(); ++i) {
                         (*fulfillers)[i]->fulfill(kj::mv(answers[i]));
                       }
                     },
                     [fulfillers](kj::Exception&& e) {
                       for (auto& fulfiller : *fulfillers) {
                         fulfiller->reject(kj::cp(e));
                       }
                     })
                 .then([this, target]() {
                   Outbox& done = outboxes_[target];
                   done.in_flight = false;
                   if (!done.requests.empty() && !done.scheduled) {
                     send_outbox(target);
                   }
                 }));
}

void NodeLoop::broadcast_members() {
  KJ_REQUIRE(index_ == 0, "the member list lives on loop 0");
  MemberList list = node_.members.snapshot(MemberTable::Clock::now());
  for (std::size_t target = 0; target < node_.loop_count(); ++target) {
    tasks_.add(run_on(target, [&node = node_, target, list]() {
      if (NodeLoop* loop = node.loops[target]) {
        loop->latest_members_ = list;
        loop->watchers_.changed();
      }
    }));
  }
}

}  // namespace discache::node
