#include "gossip_loop.h"

#include <kj/debug.h>

#include <iostream>

#include "member_wire.h"

namespace discache::node {

namespace {
constexpr auto kCallTimeout = 2 * kj::SECONDS;
constexpr auto kJoinRetry = 1 * kj::SECONDS;
}  // namespace

GossipLoop::GossipLoop(NodeContext& ctx, kj::Network& network, kj::Timer& timer,
                       std::vector<Endpoint> seeds, kj::Duration interval)
    : ctx_(ctx),
      network_(network),
      timer_(timer),
      seeds_(std::move(seeds)),
      interval_(interval),
      random_(std::random_device{}()) {}

kj::Promise<void> GossipLoop::run() {
  return join().then([this]() { return gossip_forever(); });
}

kj::Promise<void> GossipLoop::join() {
  if (seeds_.empty()) {
    return kj::READY_NOW;
  }
  return join_from(0);
}

kj::Promise<void> GossipLoop::join_from(std::size_t index) {
  if (index == seeds_.size()) {
    if (!told_unreachable_) {
      std::cerr << "discache-node: no seed answered; still trying every second\n";
      told_unreachable_ = true;
    }
    return timer_.afterDelay(kJoinRetry).then([this]() { return join_from(0); });
  }
  const Endpoint seed = seeds_[index];
  auto attempt =
      NodeConnection::connect(network_, seed, "", ctx_.members.self().name)
          .then([this](kj::Own<NodeConnection> connection) {
            auto request = connection->node().joinRequest();
            write_member(ctx_.members.self(), request.initMember());
            return request.send().then(
                [this, connection = kj::mv(connection)](auto response) {
                  ctx_.members.merge(read_member_list(response.getList()));
                });
          });
  return timer_.timeoutAfter(kCallTimeout, kj::mv(attempt))
      .then([]() { return true; },
            [seed](kj::Exception&& e) {
              std::cerr << "discache-node: seed " << seed.to_string()
                        << " did not answer: " << e.getDescription().cStr() << "\n";
              return false;
            })
      .then([this, index](bool joined) -> kj::Promise<void> {
        if (joined) {
          return kj::READY_NOW;
        }
        return join_from(index + 1);
      });
}

kj::Promise<void> GossipLoop::gossip_forever() {
  return timer_.afterDelay(interval_)
      .then([this]() { return gossip_round(); })
      .then([this]() { return gossip_forever(); });
}

kj::Promise<wire::Node::Client> GossipLoop::link(const Member& member) {
  KJ_IF_MAYBE(existing, links_.find(member.name.c_str())) {
    return (*existing)->node();
  }
  auto endpoint = parse_endpoint(member.address);
  if (!endpoint) {
    return KJ_EXCEPTION(FAILED, "member has an unparsable address", member.address.c_str());
  }
  return NodeConnection::connect(network_, *endpoint, "", ctx_.members.self().name)
      .then([this, name = member.name](kj::Own<NodeConnection> connection) {
        auto node = connection->node();
        links_.upsert(kj::str(name.c_str()), kj::mv(connection),
                      [](auto& old, auto&& fresh) { old = kj::mv(fresh); });
        return node;
      });
}

void GossipLoop::drop_link(const std::string& name) { links_.erase(name.c_str()); }

kj::Promise<void> GossipLoop::gossip_round() {
  auto peers = ctx_.members.peers();
  if (peers.empty()) {
    return kj::READY_NOW;
  }
  const Member peer = peers[random_() % peers.size()];
  auto round = link(peer).then([this](wire::Node::Client node) {
    auto request = node.gossipRequest();
    write_member_list(ctx_.members.list(), request.initList());
    return request.send().then(
        [this](auto response) { ctx_.members.merge(read_member_list(response.getList())); });
  });
  return timer_.timeoutAfter(kCallTimeout, kj::mv(round))
      .catch_([this, name = peer.name](kj::Exception&&) {
        // Unreachable this round; failure detection (membership issue) decides
        // what that means. Reconnect next time.
        drop_link(name);
      });
}

}  // namespace discache::node
