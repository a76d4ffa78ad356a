#include "gossip_loop.h"

#include <kj/debug.h>

#include <iostream>

#include "kj_duration.h"
#include "member_wire.h"
#include "node_loop.h"
#include "wire_text.h"
#include "task_failures.h"

namespace discache::node {

namespace {

constexpr auto kJoinRetry = 1 * kj::SECONDS;

}  // namespace

GossipLoop::GossipLoop(NodeContext& ctx, PeerLinks& peers, kj::Timer& timer,
                       std::vector<Endpoint> seeds, FailureTiming timing)
    : ctx_(ctx),
      peers_(peers),
      timer_(timer),
      seeds_(std::move(seeds)),
      timing_(timing),
      errors_(kj::heap<LogTaskFailures>("membership task failed")),
      tasks_(*errors_) {}

kj::Promise<void> GossipLoop::run() {
  if (!seeds_.empty()) {
    tasks_.add(join_loop(false));
  }
  return probe_forever();
}

kj::Promise<void> GossipLoop::join_loop(bool said_unreachable) {
  // Try the seeds in order; the first that answers is enough.
  kj::Promise<bool> attempt = false;
  for (const auto& seed : seeds_) {
    attempt = attempt.then([this, seed](bool joined) -> kj::Promise<bool> {
      if (joined) {
        return true;
      }
      return join_through(seed);
    });
  }
  return attempt.then([this, said_unreachable](bool joined) -> kj::Promise<void> {
    if (joined) {
      return kj::READY_NOW;
    }
    if (!said_unreachable) {
      std::cerr << "discache-node[" << ctx_.members.self().name
                << "]: no seed answered; trying again every second" << std::endl;
    }
    return timer_.afterDelay(kJoinRetry).then([this]() { return join_loop(true); });
  });
}

kj::Promise<bool> GossipLoop::join_through(Endpoint seed) {
  auto attempt = peers_.dial(seed).then([this, seed](kj::Own<NodeConnection> connection) {
    auto request = connection->node().joinRequest();
    write_member(ctx_.members.self(), request.initMember());
    return request.send().then([this, seed, connection = kj::mv(connection)](auto response) {
      if (response.hasRefused() && response.getRefused().size() > 0) {
        // Another live node holds our name: we must not serve under it.
        if (ctx_.on_name_taken) {
          ctx_.on_name_taken("seed " + seed.to_string() + " refused the join: " +
                             to_std(response.getRefused()));
        }
        return;
      }
      auto list = read_member_list(response.getList());
      // An earlier run of this node may be listed with a higher incarnation
      // (its clock was ahead of ours): our entry must replace it.
      for (const auto& m : list.members) {
        ctx_.members.outbid(m);
      }
      ctx_.members.merge(list);
      for (const auto& m : list.members) {
        if (m.last_heard_ms_ago == 0) {
          ctx_.members.heard_from(m.name, MemberTable::Clock::now());
        }
      }
    });
  });
  return timer_.timeoutAfter(to_kj(timing_.probe_timeout * 4), kj::mv(attempt))
      .then([]() { return true; },
            [this, seed](kj::Exception&& e) {
              std::cerr << "discache-node[" << ctx_.members.self().name << "]: seed "
                        << seed.to_string() << " did not answer ("
                        << e.getDescription().cStr() << ")" << std::endl;
              return false;
            });
}

void GossipLoop::add_seed(Endpoint endpoint) {
  const std::string address = endpoint.to_string();
  for (const auto& m : ctx_.members.list().members) {
    if (m.address == address) {
      return;
    }
  }
  tasks_.add(join_through(endpoint).ignoreResult());
}

kj::Promise<void> GossipLoop::probe_forever() {
  return timer_.afterDelay(to_kj(timing_.probe_interval)).then([this]() {
    // After a stop of this node, peers' silence was ours: the stall check
    // restarts their clocks before the detector reads them.
    if (NodeLoop* loop = ctx_.loops[0]) {
      loop->check_stall();
    }
    probe_all();
    detect_failures(ctx_.members, timing_, MemberTable::Clock::now());
    return probe_forever();
  });
}

void GossipLoop::probe_all() {
  for (const Member& peer : ctx_.members.peers()) {
    if (!probing_.insert(peer.name).second) {
      continue;  // the last probe has not finished yet
    }
    tasks_.add(exchange(peer)
                   .catch_([this, name = peer.name](kj::Exception&&) { peers_.drop(name); })
                   .then([this, name = peer.name]() { probing_.erase(name); }));
  }
}

kj::Promise<void> GossipLoop::exchange(const Member& peer) {
  auto call = peers_.link(peer).then([this, name = peer.name](wire::Node::Client node) {
    auto request = node.gossipRequest();
    write_member_list(ctx_.members.snapshot(MemberTable::Clock::now()), request.initList());
    request.setFrom(text_of(ctx_.members.self().name));
    return request.send().then([this, name](auto response) {
      ctx_.members.heard_from(name, MemberTable::Clock::now());
      ctx_.members.merge(read_member_list(response.getList()));
    });
  });
  return timer_.timeoutAfter(to_kj(timing_.probe_timeout), kj::mv(call));
}

kj::Promise<void> GossipLoop::announce_self(MemberState state) {
  ctx_.members.set_self_state(state);
  kj::Vector<kj::Promise<void>> calls;
  for (const Member& peer : ctx_.members.peers()) {
    if (peer.state == MemberState::dead) {
      continue;
    }
    calls.add(exchange(peer).catch_([](kj::Exception&&) {}));
  }
  return kj::joinPromises(calls.releaseAsArray());
}

}  // namespace discache::node
