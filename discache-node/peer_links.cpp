#include "peer_links.h"
#include "task_failures.h"

#include <kj/debug.h>

namespace discache::node {
PeerLinks::PeerLinks(kj::Network& network, std::string self_name, std::string cookie,
                     TlsClient* tls)
    : network_(network),
      self_name_(std::move(self_name)),
      cookie_(std::move(cookie)),
      tls_(tls),
      errors_(kj::heap<IgnoreTaskFailures>()),
      graveyard_(*errors_) {}

kj::Promise<wire::Node::Client> PeerLinks::link(const Member& member) {
  KJ_IF_MAYBE(existing, links_.find(kj::StringPtr(member.name.c_str()))) {
    if (existing->incarnation == member.incarnation && existing->address == member.address) {
      return existing->connection->node();
    }
    drop(member.name);  // the peer restarted or moved: that connection is stale
  }
  auto endpoint = parse_endpoint(member.address);
  if (!endpoint) {
    return KJ_EXCEPTION(FAILED, "member has an unparsable address", member.address.c_str());
  }
  return dial(*endpoint).then(
      [this, member](kj::Own<NodeConnection> connection) {
        auto node = connection->node();
        // A link the peer closed (it restarted, or found it idle) is
        // forgotten at once, so the next call reconnects instead of failing.
        const std::uint64_t id = next_id_++;
        graveyard_.add(connection->on_disconnect().then([this, name = member.name, id]() {
          KJ_IF_MAYBE(existing, links_.find(kj::StringPtr(name.c_str()))) {
            if (existing->id == id) {
              drop(name);
            }
          }
        }));
        links_.upsert(kj::str(member.name.c_str()),
                      Link{kj::mv(connection), member.incarnation, member.address, id},
                      [this](Link& old, Link&& fresh) {
                        graveyard_.add(kj::evalLater([dead = kj::mv(old.connection)]() {}));
                        old = kj::mv(fresh);
                      });
        return node;
      });
}

kj::Promise<kj::Own<NodeConnection>> PeerLinks::dial(const Endpoint& endpoint) {
  return NodeConnection::connect(network_, endpoint, cookie_, self_name_, /*coalesce=*/true, tls_);
}

void PeerLinks::drop(const std::string& name) {
  KJ_IF_MAYBE(existing, links_.find(kj::StringPtr(name.c_str()))) {
    // A callback of this connection may be running: destroy it later.
    graveyard_.add(kj::evalLater([connection = kj::mv(existing->connection)]() {}));
    links_.erase(kj::StringPtr(name.c_str()));
  }
}

}  // namespace discache::node
