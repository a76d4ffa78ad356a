#include "node_server.h"

#include <capnp/rpc-twoparty.h>
#include <arpa/inet.h>
#include <kj/debug.h>
#include <netinet/in.h>

#include <iostream>

#include "coalescing_stream.h"
#include "connection_guard.h"
#include "cookie.h"
#include "discache.capnp.h"
#include "member_wire.h"
#include "node_connection.h"
#include "resident_memory.h"
#include "tls_accept.h"
#include "wire_text.h"

namespace discache::node {
namespace {

wire::Status to_wire(StoreStatus status) {
  switch (status) {
    case StoreStatus::ok: return wire::Status::OK;
    case StoreStatus::not_found: return wire::Status::NOT_FOUND;
    case StoreStatus::exists: return wire::Status::EXISTS;
    case StoreStatus::version_mismatch: return wire::Status::VERSION_MISMATCH;
    case StoreStatus::too_large: return wire::Status::TOO_LARGE;
    case StoreStatus::invalid: return wire::Status::INVALID;
    case StoreStatus::out_of_memory: return wire::Status::OUT_OF_MEMORY;
  }
  return wire::Status::INVALID;
}

PutMode to_store(wire::PutMode mode) {
  switch (mode) {
    case wire::PutMode::UPSERT: return PutMode::upsert;
    case wire::PutMode::IF_ABSENT: return PutMode::if_absent;
    case wire::PutMode::COMPARE_AND_SET: return PutMode::compare_and_set;
  }
  return PutMode::upsert;
}

// The operations themselves, shared by the single-key calls and batch().
class Operations {
 public:
  explicit Operations(NodeContext& ctx) : ctx_(ctx) {}

  void get(capnp::Data::Reader key, wire::OpResult::Builder out) {
    ++ctx_.counters.gets;
    const ItemView* item = ctx_.store.find(view_of(key), NodeContext::now_ms());
    if (item == nullptr) {
      ++ctx_.counters.misses;
      out.setStatus(wire::Status::NOT_FOUND);
      // A tombstone's version tells the client a replica's copy is older.
      out.setVersion(ctx_.tombstones.version(view_of(key), NodeContext::now_ms()));
      return;
    }
    ++ctx_.counters.hits;
    out.setStatus(wire::Status::OK);
    out.setValue(data_of(item->value));
    out.setVersion(item->version);
    out.setTtlMs(item->ttl_ms);
  }

  void put(capnp::Data::Reader key, capnp::Data::Reader value, wire::PutOptions::Reader options,
           wire::OpResult::Builder out) {
    ++ctx_.counters.puts;
    const std::uint64_t now = NodeContext::now_ms();
    std::uint64_t version = options.getVersion();
    if (version != 0 && options.getMode() == wire::PutMode::UPSERT && !is_newer(key, version, now)) {
      out.setStatus(wire::Status::STALE);
      return;
    }
    if (version == 0) {
      version = ctx_.versions.next();
    }
    PutRequest request{view_of(key),
                       view_of(value),
                       options.getTtlMs(),
                       to_store(options.getMode()),
                       options.getExpectedVersion(),
                       version};
    auto result = ctx_.store.put(request, now);
    if (result.status == StoreStatus::ok) {
      ctx_.tombstones.erase(view_of(key));
    }
    out.setStatus(to_wire(result.status));
    out.setVersion(result.version);
    if (result.status == StoreStatus::too_large) {
      out.setMessage(ctx_.store.explain_too_large(key.size(), value.size()).c_str());
    } else if (result.status == StoreStatus::out_of_memory) {
      out.setMessage(kj::str("no room for ", key.size() + value.size(),
                             " bytes even after evicting; memory is ",
                             ctx_.store.memory_limit(), " bytes"));
    } else if (result.status == StoreStatus::invalid) {
      out.setMessage("empty key");
    }
  }

  void erase(capnp::Data::Reader key, std::uint64_t version, wire::OpResult::Builder out) {
    ++ctx_.counters.deletes;
    const std::uint64_t now = NodeContext::now_ms();
    if (version != 0 && !is_newer(key, version, now)) {
      out.setStatus(wire::Status::STALE);  // a newer value (or delete) is here
      return;
    }
    if (version == 0) {
      version = ctx_.versions.next();
    }
    ctx_.tombstones.add(view_of(key), version, now);
    out.setStatus(to_wire(ctx_.store.erase(view_of(key), now)));
    out.setVersion(version);
  }

  // Whether a write at `version` beats what this node holds for `key`.
  bool is_newer(capnp::Data::Reader key, std::uint64_t version, std::uint64_t now) {
    if (ctx_.tombstones.version(view_of(key), now) >= version) {
      return false;
    }
    const ItemView* item = ctx_.store.find(view_of(key), now);
    return item == nullptr || item->version < version;
  }

  bool has(capnp::Data::Reader key) {
    return ctx_.store.find(view_of(key), NodeContext::now_ms()) != nullptr;
  }

  void apply(wire::Op::Reader op, wire::OpResult::Builder out) {
    switch (op.which()) {
      case wire::Op::GET: get(op.getKey(), out); return;
      case wire::Op::PUT: {
        auto put_op = op.getPut();
        put(op.getKey(), put_op.getValue(), put_op.getOptions(), out);
        return;
      }
      case wire::Op::DELETE: erase(op.getKey(), op.getVersion(), out); return;
      case wire::Op::HAS:
        out.setStatus(has(op.getKey()) ? wire::Status::OK : wire::Status::NOT_FOUND);
        return;
    }
    out.setStatus(wire::Status::INVALID);
    out.setMessage("unknown operation");
  }

 private:
  NodeContext& ctx_;
};

class NodeImpl final : public wire::Node::Server {
 public:
  explicit NodeImpl(NodeContext& ctx) : ctx_(ctx), ops_(ctx) {}

  MemberList snapshot() const { return ctx_.members.snapshot(MemberTable::Clock::now()); }

  kj::Promise<void> get(GetContext context) override {
    ++ctx_.counters.calls;
    ops_.get(context.getParams().getKey(), context.getResults().initResult());
    return kj::READY_NOW;
  }

  kj::Promise<void> put(PutContext context) override {
    ++ctx_.counters.calls;
    auto params = context.getParams();
    ops_.put(params.getKey(), params.getValue(), params.getOptions(),
             context.getResults().initResult());
    return kj::READY_NOW;
  }

  kj::Promise<void> delete_(DeleteContext context) override {
    ++ctx_.counters.calls;
    ops_.erase(context.getParams().getKey(), 0, context.getResults().initResult());
    return kj::READY_NOW;
  }

  kj::Promise<void> has(HasContext context) override {
    ++ctx_.counters.calls;
    context.getResults().setFound(ops_.has(context.getParams().getKey()));
    return kj::READY_NOW;
  }

  kj::Promise<void> batch(BatchContext context) override {
    ++ctx_.counters.calls;
    ++ctx_.counters.batch_calls;
    auto ops = context.getParams().getOps();
    auto results = context.getResults().initResults(ops.size());
    for (unsigned i = 0; i < ops.size(); ++i) {
      ops_.apply(ops[i], results[i]);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> stats(StatsContext context) override {
    ++ctx_.counters.calls;
    auto s = context.getResults().initStats();
    const auto& c = ctx_.counters;
    s.setName(text_of(ctx_.members.self().name));
    s.setItems(ctx_.store.items());
    s.setBytes(ctx_.store.bytes());
    s.setMemoryUsed(ctx_.store.memory_used());
    s.setMemoryLimit(ctx_.store.memory_limit());
    s.setEvictions(ctx_.store.evictions());
    s.setExpirations(ctx_.store.expirations());
    s.setRssBytes(resident_bytes());
    s.setGets(c.gets);
    s.setHits(c.hits);
    s.setMisses(c.misses);
    s.setPuts(c.puts);
    s.setDeletes(c.deletes);
    s.setCalls(c.calls);
    s.setBatchCalls(c.batch_calls);
    s.setConnections(c.connections);
    s.setHandoffRuns(c.handoff_runs);
    s.setHandoffKeys(c.handoff_keys);
    s.setHandoffPending(c.handoff_pending);
    s.setUptimeMs(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                              ctx_.started)
            .count()));
    return kj::READY_NOW;
  }

  kj::Promise<void> members(MembersContext context) override {
    write_member_list(snapshot(), context.getResults().initList());
    return kj::READY_NOW;
  }

  kj::Promise<void> join(JoinContext context) override {
    auto member = read_member(context.getParams().getMember());
    ctx_.members.merge_one(member);
    ctx_.members.heard_from(member.name, MemberTable::Clock::now());
    write_member_list(snapshot(), context.getResults().initList());
    return kj::READY_NOW;
  }

  kj::Promise<void> gossip(GossipContext context) override {
    auto params = context.getParams();
    ctx_.members.merge(read_member_list(params.getList()));
    ctx_.members.heard_from(to_std(params.getFrom()), MemberTable::Clock::now());
    write_member_list(snapshot(), context.getResults().initList());
    return kj::READY_NOW;
  }

  kj::Promise<void> drain(DrainContext) override {
    if (ctx_.request_drain) {
      ctx_.request_drain();
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> watch(WatchContext context) override {
    auto results = context.getResults();
    results.setHandle(ctx_.watchers.add(context.getParams().getWatcher()));
    write_member_list(snapshot(), results.initList());
    return kj::READY_NOW;
  }

 private:
  NodeContext& ctx_;
  Operations ops_;
};

// One per connection, so its lifetime counts connections.
// One per connection, so its lifetime counts connections. Hands out the Node
// capability only for the cluster's cookie.
class GateImpl final : public wire::Gate::Server {
 public:
  GateImpl(NodeContext& ctx, std::string peer) : ctx_(ctx), peer_(std::move(peer)) {
    ++ctx_.counters.connections;
  }
  ~GateImpl() { --ctx_.counters.connections; }

  kj::Promise<void> login(LoginContext context) override {
    auto params = context.getParams();
    if (!ctx_.cookie.empty() && !cookie_matches(ctx_.cookie, view_of(params.getCookie()))) {
      ++ctx_.counters.refused_logins;
      // The log names who knocked, never what they sent.
      const auto name = view_of(params.getClientName()).substr(0, 64);
      std::cerr << "discache-node[" << ctx_.members.self().name << "]: refused "
                << (name.empty() ? std::string_view("a client") : name) << " from " << peer_
                << ": wrong or missing cookie" << std::endl;
      return KJ_EXCEPTION(FAILED, "unauthenticated: wrong or missing cookie");
    }
    context.getResults().setNode(kj::heap<NodeImpl>(ctx_));
    return kj::READY_NOW;
  }

 private:
  NodeContext& ctx_;
  std::string peer_;
};

std::string peer_of(kj::AsyncIoStream& stream) {
  struct sockaddr_storage addr {};
  kj::uint length = sizeof(addr);
  char host[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    stream.getpeername(reinterpret_cast<struct sockaddr*>(&addr), &length);
  })) {
    (void)e;
    return "an unknown address";
  }
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return Endpoint{host, port}.to_string();
}

struct ServerConnection {
  ServerConnection(kj::Own<kj::AsyncIoStream>&& stream_in, kj::Maybe<CoalescingStream&> coalescing,
                   std::string peer, NodeContext& ctx, kj::Timer& timer, LimitLog& log)
      : stream(kj::mv(stream_in)),
        guard(*stream, coalescing, ctx.connection_limits, timer, log, peer),
        network(guard, capnp::rpc::twoparty::Side::SERVER, wire_reader_options()),
        rpc(capnp::makeRpcServer(network, kj::heap<GateImpl>(ctx, kj::mv(peer)))) {
    // Bound the calls one connection can have waiting to run.
    rpc.setFlowLimit(kFlowLimitWords);
  }
  static constexpr std::size_t kFlowLimitWords = 4 * 1024 * 1024;  // 32 MiB of calls
  kj::Own<kj::AsyncIoStream> stream;
  // Before the network, which reads and writes through it.
  ConnectionGuard guard;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

class ConnectionErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& exception) override {
    // A peer that misbehaves or vanishes ends only its own connection.
    if (exception.getType() != kj::Exception::Type::DISCONNECTED) {
      KJ_LOG(WARNING, "connection ended with an error", exception.getDescription());
    }
  }
};

// The connection's RPC over `stream` (a socket, or TLS over it).
kj::Promise<void> serve_stream(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                               NodeContext& context, kj::Timer& timer, LimitLog& log) {
  kj::Maybe<CoalescingStream&> coalescing;
  if (context.coalesce) {
    // Over TLS, not under it: one coalesced writev is one TLS write.
    auto wrapped = kj::heap<CoalescingStream>(kj::mv(stream));
    coalescing = *wrapped;
    stream = kj::mv(wrapped);
  }
  auto connection =
      kj::heap<ServerConnection>(kj::mv(stream), coalescing, kj::mv(peer), context, timer, log);
  // An idle connection ends like a broken one: destroying it closes the socket.
  auto done = connection->network.onDisconnect().exclusiveJoin(connection->guard.idle_close());
  return done.attach(kj::mv(connection));
}

kj::Promise<void> serve_tls(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                            NodeContext& context, kj::Timer& timer, LimitLog& log) {
  // A connection still in its handshake counts against --max-connections
  // like a logged-in one (GateImpl counts it from then on).
  ++context.counters.connections;
  auto slot = kj::defer([&context]() { --context.counters.connections; });
  auto handshake = accept_tls(kj::mv(stream), *context.tls, timer,
                              tls_handshake_timeout(context.connection_limits), log, peer);
  return handshake.attach(kj::mv(slot))
      .then([peer = kj::mv(peer), &context, &timer,
             &log](kj::Maybe<kj::Own<kj::AsyncIoStream>> secured) mutable -> kj::Promise<void> {
        KJ_IF_MAYBE (s, secured) {
          return serve_stream(kj::mv(*s), kj::mv(peer), context, timer, log);
        }
        return kj::READY_NOW;
      });
}

kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, NodeContext& ctx,
                              kj::Timer& timer, LimitLog& log, kj::TaskSet& tasks) {
  return listener.accept().then([&listener, &ctx, &timer, &log,
                                 &tasks](kj::Own<kj::AsyncIoStream>&& stream) {
    if (ctx.counters.connections >= ctx.max_connections) {
      // Over the limit: close at once (the peer sees DISCONNECTED), say so once
      // per burst rather than once per refused connection.
      if (ctx.counters.refused_connections++ % 1000 == 0) {
        std::cerr << "discache-node[" << ctx.members.self().name << "]: connection limit ("
                  << ctx.max_connections << ") reached; refusing new connections" << std::endl;
      }
      return accept_loop(listener, ctx, timer, log, tasks);
    }
    auto peer = peer_of(*stream);
    tasks.add(serve_connection(kj::mv(stream), kj::mv(peer), ctx, timer, log));
    return accept_loop(listener, ctx, timer, log, tasks);
  });
}

}  // namespace

kj::Promise<void> serve_connection(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                                   NodeContext& context, kj::Timer& timer, LimitLog& log) {
  if (context.tls != nullptr) {
    return serve_tls(kj::mv(stream), kj::mv(peer), context, timer, log);
  }
  return serve_stream(kj::mv(stream), kj::mv(peer), context, timer, log);
}

kj::Promise<void> serve(kj::ConnectionReceiver& listener, NodeContext& context, kj::Timer& timer) {
  // Members are destroyed in reverse order: the tasks before their handler.
  struct Connections {
    Connections(const NodeContext& ctx, kj::Timer& timer) : log(ctx.members.self().name, timer) {}
    LimitLog log;
    ConnectionErrors errors;
    kj::TaskSet tasks{errors};
  };
  auto connections = kj::heap<Connections>(context, timer);
  auto loop = accept_loop(listener, context, timer, connections->log, connections->tasks);
  return loop.attach(kj::mv(connections));
}

}  // namespace discache::node
