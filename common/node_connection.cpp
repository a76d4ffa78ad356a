#include "node_connection.h"

#include "coalescing_stream.h"
#include "size_limits.h"
#include "tls_stream.h"

namespace discache {

capnp::ReaderOptions wire_reader_options() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits::kMaxMessageWords;
  options.nestingLimit = 16;  // our schema nests a few levels; refuse deep junk
  return options;
}

namespace {

wire::Node::Client login(capnp::RpcSystem<capnp::rpc::twoparty::VatId>& rpc,
                         kj::StringPtr cookie, kj::StringPtr client_name, std::uint32_t replicas) {
  capnp::word scratch[4];
  memset(scratch, 0, sizeof(scratch));
  capnp::MallocMessageBuilder message(scratch);
  auto vat_id = message.getRoot<capnp::rpc::twoparty::VatId>();
  vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
  auto gate = rpc.bootstrap(vat_id).castAs<wire::Gate>();
  auto request = gate.loginRequest();
  request.setCookie(cookie.asBytes());
  request.setClientName(client_name);
  request.setReplicas(replicas);
  return request.send().getNode();
}

}  // namespace

NodeConnection::NodeConnection(kj::Own<kj::AsyncIoStream> stream, kj::StringPtr cookie,
                               kj::StringPtr client_name, std::uint32_t replicas)
    : stream_(kj::mv(stream)),
      network_(*stream_, capnp::rpc::twoparty::Side::CLIENT, wire_reader_options()),
      rpc_(capnp::makeRpcClient(network_)),
      node_(login(rpc_, cookie, client_name, replicas)) {}

kj::Promise<kj::Own<NodeConnection>> NodeConnection::connect(kj::Network& network,
                                                             Endpoint endpoint,
                                                             kj::StringPtr cookie,
                                                             kj::StringPtr client_name,
                                                             bool coalesce, TlsClient* tls,
                                                             std::uint32_t replicas) {
  auto host = kj::str(endpoint.host.c_str());
  auto port = endpoint.port;
  return network.parseAddress(host, port)
      .then([](kj::Own<kj::NetworkAddress> address) {
        return address->connect().attach(kj::mv(address));
      })
      .then([tls, endpoint = kj::mv(endpoint)](
                kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<kj::Own<kj::AsyncIoStream>> {
        if (tls == nullptr) {
          return kj::mv(stream);
        }
        return tls->wrap(kj::mv(stream), endpoint);
      })
      .then([cookie = kj::str(cookie), name = kj::str(client_name), coalesce,
             replicas](kj::Own<kj::AsyncIoStream> stream) mutable {
        if (coalesce) {
          stream = kj::heap<CoalescingStream>(kj::mv(stream));
        }
        return kj::heap<NodeConnection>(kj::mv(stream), cookie, name, replicas);
      });
}

}  // namespace discache
