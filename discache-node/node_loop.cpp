#include "node_loop.h"

#include <kj/debug.h>
#include <kj/vector.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "wire_text.h"
#include "task_failures.h"

namespace discache::node {
namespace {

KeyHash hash_of(wire::Op::Reader op) {
  return hash_key(view_of(op.getKey()));
}

// What the scheduler says this thread did so far: /proc/thread-self/schedstat
// ("ran waited timeslices", in ns) read through `schedstat_fd` (opened on
// this thread); without it, CPU time alone (starvation then counts as a stop).
StallWatch::ThreadTimes thread_times(int schedstat_fd) {
  if (schedstat_fd >= 0) {
    char text[128];
    const ssize_t n = pread(schedstat_fd, text, sizeof(text) - 1, 0);
    if (n > 0) {
      text[n] = '\0';
      unsigned long long ran = 0;
      unsigned long long waited = 0;
      if (std::sscanf(text, "%llu %llu", &ran, &waited) == 2) {
        return {StallWatch::Nanos(ran), StallWatch::Nanos(waited)};
      }
    }
  }
  struct timespec ts {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return {std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec),
          StallWatch::Nanos(0)};
}

long long to_ms(StallWatch::Nanos n) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(n).count());
}

}  // namespace

NodeLoop::NodeLoop(NodeContext& node, std::size_t index, kj::Timer& timer, int listen_fd)
    : node_(node),
      index_(index),
      timer_(timer),
      ops_(*node.shards[index], node.store),
      log_(node.name(), timer),
      budget_queue_(std::make_shared<BudgetQueue>(node.in_flight_budget, timer)),
      tls_(node.tls != nullptr ? kj::heap<TlsServer>(*node.tls) : kj::Own<TlsServer>()),
      watchers_([this]() { return latest_members_; }),
      outboxes_(node.loop_count()),
      listen_fd_(listen_fd),
      stall_watch_(node.forget_after_stall),
      errors_(kj::heap<LogTaskFailures>("cross-loop job failed", /*disconnects_too=*/false)),
      tasks_(*errors_) {
  node_.loops[index_] = this;
  node_.executors[index_] = kj::getCurrentThreadExecutor().addRef();
  if (stall_watch_.enabled()) {
    // On this thread: /proc/thread-self is the thread that opens it.
    schedstat_fd_ = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    tasks_.add(tick_stall_watch());
  }
}

NodeLoop::~NodeLoop() {
  node_.loops[index_] = nullptr;
  if (schedstat_fd_ >= 0) {
    close(schedstat_fd_);
  }
}

kj::Promise<void> NodeLoop::apply(capnp::List<wire::Op>::Reader ops,
                                  capnp::List<wire::OpResult>::Builder results,
                                  std::shared_ptr<AnswerRoom> room) {
  const std::size_t loops = node_.loop_count();
  if (loops == 1) {
    for (unsigned i = 0; i < ops.size(); ++i) {
      ops_.apply(ops[i], hash_of(ops[i]), results[i], room.get());
    }
    return kj::READY_NOW;
  }
  // Ops for this loop's shard run now; the rest wait in outboxes, by loop.
  std::vector<std::vector<unsigned>> elsewhere(loops);
  for (unsigned i = 0; i < ops.size(); ++i) {
    const KeyHash hash = hash_of(ops[i]);
    const std::size_t owner = node_.store.shard_index(hash);
    if (owner == index_) {
      ops_.apply(ops[i], hash, results[i], room.get());
    } else {
      elsewhere[owner].push_back(i);
    }
  }
  kj::Vector<kj::Promise<void>> answers;
  for (std::size_t target = 0; target < loops; ++target) {
    if (elsewhere[target].empty()) {
      continue;
    }
    answers.add(hand_over(target, ops, elsewhere[target], room)
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
                                                   const std::vector<unsigned>& indices,
                                                   std::shared_ptr<AnswerRoom> room) {
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
  outbox.rooms.push_back(kj::mv(room));
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
  auto job = [&node = node_, target, requests = kj::mv(outbox.requests),
              rooms = kj::mv(outbox.rooms)]() mutable {
    ShardOperations ops(*node.shards[target], node.store);
    std::vector<Message> answers;
    answers.reserve(requests.size());
    for (std::size_t r = 0; r < requests.size(); ++r) {
      Message& request = requests[r];
      AnswerRoom* room = rooms[r].get();
      auto list = request->getRoot<wire::Node::BatchParams>().asReader().getOps();
      std::size_t words = 8 + list.size() * 8;
      std::size_t value_words = 0;
      for (auto op : list) {
        if (op.isGet()) {
          value_words += 32;  // room for a typical value, so the answer rarely needs a second segment
        }
      }
      // At most 64 KiB of it: room not yet filled is not in the budget.
      words += std::min<std::size_t>(value_words, 8192);
      auto answer = kj::heap<capnp::MallocMessageBuilder>(words);
      auto results = answer->initRoot<wire::Node::BatchResults>().initResults(list.size());
      for (unsigned i = 0; i < list.size(); ++i) {
        // Twice: this answer's values are copied into the call's answer.
        ops.apply(list[i], hash_of(list[i]), results[i], room, 2);
      }
      answers.push_back(kj::mv(answer));
    }
    return answers;
  };
  outbox.requests.clear();  // moved from: make them empty for sure
  outbox.rooms.clear();
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

kj::Promise<void> NodeLoop::tick_stall_watch() {
  // The first tick runs once the loop runs: the wait for the other loops to
  // start is not a stall.
  return timer_.afterDelay(stall_watch_.tick_interval().count() * kj::NANOSECONDS)
      .then([this]() {
        observe_stall();
        return tick_stall_watch();
      });
}

void NodeLoop::observe_stall() {
  if (auto stall = stall_watch_.tick(monotonic_now(), thread_times(schedstat_fd_))) {
    handle_stall(*stall);
  }
}

void NodeLoop::handle_stall(const StallWatch::Stall& stall) {
  // All of it before this turn serves anything: connections open across the
  // stop end at their next message, those still in the backlog go now, and
  // the shard forgets what the writes it missed may have changed.
  ++stall_generation_;
  const std::size_t dropped = drop_waiting_connections();
  const std::size_t forgotten = forget_shard();
  last_forget_ = monotonic_now();
  // One write: other threads may be saying the same at this moment.
  std::cerr << ("discache-node[" + node_.name() + "]: thread " + std::to_string(index_) +
                " was stopped for " + std::to_string(to_ms(stall.stopped)) +
                " ms (over --forget-after-stall " +
                std::to_string(node_.forget_after_stall.count()) + " ms): forgot its " +
                std::to_string(forgotten) + " items, closed " + std::to_string(dropped) +
                " connections waiting to be accepted; connections opened before the stop "
                "close at their next message\n")
            << std::flush;
  tasks_.add(run_on(0, [&node = node_, began = stall.began, from = index_]() {
    node.loops[0]->stall_reported(began, from);
  }));
}

void NodeLoop::stall_reported(Nanos began, std::size_t from) {
  KJ_REQUIRE(index_ == 0, "the member list lives on loop 0");
  if (began < renewed_at_) {
    return;  // another loop reported this stop first
  }
  renewed_at_ = monotonic_now();
  // Nobody could be heard while we were stopped: not their silence.
  node_.members.restart_silence(MemberTable::Clock::now());
  node_.members.renew_boot(new_boot_id(), "was stopped and forgot its store");
  for (std::size_t i = 0; i < node_.loop_count(); ++i) {
    if (i == from) {
      continue;
    }
    tasks_.add(run_on(i, [&node = node_, i, began]() { node.loops[i]->forget_unless_since(began); }));
  }
}

void NodeLoop::forget_unless_since(Nanos began) {
  // run_on() checked this loop's own stall just before: if it had one, it
  // forgot then, and did the rest too.
  if (last_forget_ >= began) {
    return;
  }
  const std::size_t forgotten = forget_shard();
  last_forget_ = monotonic_now();
  std::cerr << ("discache-node[" + node_.name() + "]: thread " + std::to_string(index_) +
                " forgot its " + std::to_string(forgotten) + " items: the node was stopped\n")
            << std::flush;
}

std::size_t NodeLoop::forget_shard() {
  // Items only: a tombstone still says truly that a delete happened at its
  // version, and keeps refusing older copies of that key.
  constexpr std::size_t kChunk = 4096;
  constexpr int kMaxPasses = 16;
  ItemStore& items = shard().items;
  const std::uint64_t now = node_now_ms();
  std::size_t forgotten = 0;
  std::vector<std::string> keys;
  // Erasing moves entries a resumed scan has yet to visit: a pass may miss
  // some, the next finds them.
  for (int pass = 0; pass < kMaxPasses && items.items() > 0; ++pass) {
    std::uint64_t cursor = 0;
    do {
      keys.clear();
      cursor = items
                   .scan(cursor, kChunk, now,
                         [&keys](const ScannedItem& item) { keys.emplace_back(item.key); })
                   .next;
      for (const std::string& key : keys) {
        forgotten += items.erase(key, now) == StoreStatus::ok ? 1 : 0;
      }
    } while (cursor != 0);
  }
  return forgotten;
}

std::size_t NodeLoop::drop_waiting_connections() {
  if (listen_fd_ < 0) {
    return 0;
  }
  // The kernel completed these handshakes while we were stopped; their
  // clients sent requests and gave up. Closing with data unread resets them.
  std::size_t dropped = 0;
  while (true) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      break;  // EAGAIN: the backlog is empty (or accepting fails: nothing to drop)
    }
    close(fd);
    ++dropped;
  }
  return dropped;
}

}  // namespace discache::node
