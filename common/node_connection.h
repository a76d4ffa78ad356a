// One Cap'n Proto RPC connection to a discache node, logged in through its Gate.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "discache.capnp.h"
#include "endpoint.h"

namespace discache {

class TlsClient;

// KJ thread only. Owns the socket, the vat network and the RPC system; the
// Node capability it hands out stays valid while this object lives. After a
// disconnect, drop the whole object and connect again (0.9.2 must not
// bootstrap twice on one connection).
class NodeConnection {
 public:
  // Resolves, connects, sets reader limits and logs in (pipelined: the Node
  // capability can be used before the login answer arrives).
  // `coalesce`: wrap the socket in a CoalescingStream (fewer syscalls per call).
  // `tls`: speak TLS and verify the node's certificate before logging in
  // (null: plain TCP); must outlive the returned promise. TLS sits under the
  // CoalescingStream, so one coalesced writev is one TLS write.
  // `replicas`: the client's own N when it overrides the cluster's (0: none).
  static kj::Promise<kj::Own<NodeConnection>> connect(kj::Network& network, Endpoint endpoint,
                                                      kj::StringPtr cookie,
                                                      kj::StringPtr client_name,
                                                      bool coalesce = true,
                                                      TlsClient* tls = nullptr,
                                                      std::uint32_t replicas = 0);

  NodeConnection(kj::Own<kj::AsyncIoStream> stream, kj::StringPtr cookie,
                 kj::StringPtr client_name, std::uint32_t replicas = 0);
  KJ_DISALLOW_COPY(NodeConnection);

  // The node's capability; calls fail with DISCONNECTED once the link breaks.
  wire::Node::Client node() { return node_; }
  // Resolves when the connection ends, for whatever reason.
  kj::Promise<void> on_disconnect() { return network_.onDisconnect(); }

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyVatNetwork network_;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc_;
  wire::Node::Client node_;
};

// Reader limits for every connection, client or server side.
capnp::ReaderOptions wire_reader_options();

}  // namespace discache
