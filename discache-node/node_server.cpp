#include "node_server.h"

#include <arpa/inet.h>
#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <netinet/in.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <utility>

#include "anti_entropy.h"
#include "coalescing_stream.h"
#include "connection_guard.h"
#include "cookie.h"
#include "discache.capnp.h"
#include "member_wire.h"
#include "node_connection.h"
#include "node_loop.h"
#include "resident_memory.h"
#include "task_failures.h"
#include "tls_accept.h"
#include "wire_text.h"

namespace discache::node {
namespace {

using Message = kj::Own<capnp::MallocMessageBuilder>;

// A loop's shard figures, copied out on the loop that owns them.
struct ShardFigures {
  ShardCounters counters;
  std::uint64_t items = 0;
  std::uint64_t bytes = 0;
  std::uint64_t memory_used = 0;
  std::uint64_t memory_limit = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  ControlCounters control;  // loop 0's only
};

class NodeImpl final : public wire::Node::Server {
 public:
  // `share`: what this connection holds of the in-flight budget; answers
  // with values take room from it (AnswerRoom).
  NodeImpl(NodeLoop& loop, std::shared_ptr<ConnectionShare> share)
      : loop_(loop), node_(loop.node()), share_(std::move(share)) {}

  // The single-key calls (the client's blocking reads use get and has) run
  // at once when the key is this loop's; otherwise they take batch()'s path
  // with one op, so they reach the owner with the same rules.
  kj::Promise<void> get(GetContext context) override {
    ++loop_.shard().counters.calls;
    auto key = context.getParams().getKey();
    const KeyHash hash = hash_key(view_of(key));
    auto room = share_->answer_room();
    if (loop_.owns(hash)) {
      loop_.local_ops().get(key, hash, context.getResults().initResult(), room.get());
      share_->keep_answer(kj::mv(room));
      return kj::READY_NOW;
    }
    return one_op(
               [key](wire::Op::Builder op) {
                 op.setKey(key);
                 op.setGet();
               },
               room)
        .then([context, share = share_, room](Message answer) mutable {
          context.getResults().setResult(first_result(answer));
          room->release_copies();
          share->keep_answer(kj::mv(room));
        });
  }

  kj::Promise<void> put(PutContext context) override {
    ++loop_.shard().counters.calls;
    auto params = context.getParams();
    const KeyHash hash = hash_key(view_of(params.getKey()));
    if (loop_.owns(hash)) {
      loop_.local_ops().put(params.getKey(), hash, params.getValue(), params.getOptions(),
                            context.getResults().initResult());
      return kj::READY_NOW;
    }
    return one_op([params](wire::Op::Builder op) {
             op.setKey(params.getKey());
             auto put = op.initPut();
             put.setValue(params.getValue());
             put.setOptions(params.getOptions());
           })
        .then([context](Message answer) mutable {
          context.getResults().setResult(first_result(answer));
        });
  }

  kj::Promise<void> delete_(DeleteContext context) override {
    ++loop_.shard().counters.calls;
    auto key = context.getParams().getKey();
    const KeyHash hash = hash_key(view_of(key));
    if (loop_.owns(hash)) {
      loop_.local_ops().erase(key, hash, 0, context.getResults().initResult());
      return kj::READY_NOW;
    }
    return one_op([key](wire::Op::Builder op) {
             op.setKey(key);
             op.setDelete();
           })
        .then([context](Message answer) mutable {
          context.getResults().setResult(first_result(answer));
        });
  }

  kj::Promise<void> has(HasContext context) override {
    ++loop_.shard().counters.calls;
    auto key = context.getParams().getKey();
    const KeyHash hash = hash_key(view_of(key));
    if (loop_.owns(hash)) {
      context.getResults().setFound(loop_.local_ops().has(key, hash));
      return kj::READY_NOW;
    }
    return one_op([key](wire::Op::Builder op) {
             op.setKey(key);
             op.setHas();
           })
        .then([context](Message answer) mutable {
          context.getResults().setFound(first_result(answer).getStatus() == wire::Status::OK);
        });
  }

  kj::Promise<void> batch(BatchContext context) override {
    ++loop_.shard().counters.calls;
    ++loop_.shard().counters.batch_calls;
    auto ops = context.getParams().getOps();
    // Gets take room in the budget for their values before copying them
    // (docs/design.md, "The in-flight budget"); the answer keeps it until
    // the guard counts it as sent.
    auto room = share_->answer_room();
    // Ops run on other loops are answered there first, then copied over.
    room->hold_results(ops.size(), node_.loop_count() > 1 ? 2 : 1);
    return loop_.apply(ops, context.getResults().initResults(ops.size()), room)
        .then([share = share_, room]() mutable {
          room->release_copies();
          share->keep_answer(kj::mv(room));
        });
  }

  kj::Promise<void> stats(StatsContext context) override {
    ++loop_.shard().counters.calls;
    kj::Vector<kj::Promise<ShardFigures>> figures;
    for (std::size_t i = 0; i < node_.loop_count(); ++i) {
      figures.add(loop_.run_on(i, [&node = node_, i]() {
        const ShardState& shard = *node.shards[i];
        ShardFigures f;
        f.counters = shard.counters;
        f.items = shard.items.items();
        f.bytes = shard.items.bytes();
        f.memory_used = shard.items.memory_used();
        f.memory_limit = shard.items.memory_limit();
        f.evictions = shard.items.evictions();
        f.expirations = shard.items.expirations();
        if (i == 0) {
          f.control = node.counters;
        }
        return f;
      }));
    }
    return kj::joinPromises(figures.releaseAsArray())
        .then([&node = node_, context](kj::Array<ShardFigures> figures) mutable {
          fill_stats(node, figures, context.getResults().initStats());
        });
  }

  kj::Promise<void> members(MembersContext context) override {
    return loop_
        .run_on(0, [&node = node_]() { return node.members.snapshot(MemberTable::Clock::now()); })
        .then([context](MemberList list) mutable {
          write_member_list(list, context.getResults().initList());
        });
  }

  kj::Promise<void> join(JoinContext context) override {
    return loop_
        .run_on(0,
                [&node = node_, member = read_member(context.getParams().getMember())]() {
                  const auto now = MemberTable::Clock::now();
                  // One name, one node: never merged, so the holder keeps it.
                  if (auto refusal = join_refusal(node, member, now)) {
                    return std::make_pair(MemberList{}, std::move(*refusal));
                  }
                  node.members.merge_one(member);
                  node.members.heard_from(member.name, now);
                  return std::make_pair(node.members.snapshot(now), std::string());
                })
        .then([context](std::pair<MemberList, std::string> answer) mutable {
          auto results = context.getResults();
          if (!answer.second.empty()) {
            results.setRefused(text_of(answer.second));
            return;
          }
          write_member_list(answer.first, results.initList());
        });
  }

  kj::Promise<void> gossip(GossipContext context) override {
    auto params = context.getParams();
    return loop_
        .run_on(0,
                [&node = node_, list = read_member_list(params.getList()),
                 from = to_std(params.getFrom())]() {
                  node.members.merge(list);
                  node.members.heard_from(from, MemberTable::Clock::now());
                  return node.members.snapshot(MemberTable::Clock::now());
                })
        .then([context](MemberList list) mutable {
          write_member_list(list, context.getResults().initList());
        });
  }

  kj::Promise<void> drain(DrainContext) override {
    return loop_.run_on(0, [&node = node_]() {
      if (node.request_drain) {
        node.request_drain();
      }
    });
  }

  // Anti-entropy from a co-owner (anti_entropy.h): digests, then entries.
  kj::Promise<void> reconcile(ReconcileContext context) override {
    ++loop_.shard().counters.calls;
    return answer_reconcile(loop_, context);
  }

  kj::Promise<void> watch(WatchContext context) override {
    // Subscribed here (the watcher is this connection's capability); loop 0
    // sends this loop every later list.
    auto handle = loop_.watchers().add(context.getParams().getWatcher());
    return loop_
        .run_on(0, [&node = node_]() { return node.members.snapshot(MemberTable::Clock::now()); })
        .then([context, handle = kj::mv(handle)](MemberList list) mutable {
          auto results = context.getResults();
          results.setHandle(kj::mv(handle));
          write_member_list(list, results.initList());
        });
  }

 private:
  // One op, built by `fill`, through batch()'s path to its key's loop.
  template <typename Fill>
  kj::Promise<Message> one_op(Fill fill, std::shared_ptr<AnswerRoom> room = nullptr) {
    auto request = kj::heap<capnp::MallocMessageBuilder>(64);
    auto ops = request->initRoot<wire::Node::BatchParams>().initOps(1);
    fill(ops[0]);
    auto answer = kj::heap<capnp::MallocMessageBuilder>(64);
    auto results = answer->initRoot<wire::Node::BatchResults>().initResults(1);
    auto done = loop_.apply(ops.asReader(), results, kj::mv(room));
    return done.attach(kj::mv(request)).then([answer = kj::mv(answer)]() mutable {
      return kj::mv(answer);
    });
  }

  // Loop 0: why `joining` may not join under its name (naming both nodes),
  // or nullopt.
  static std::optional<std::string> join_refusal(NodeContext& node, const Member& joining,
                                                 MemberTable::Clock::time_point now) {
    auto holder = node.members.name_holder(joining, now, node.name_free_after);
    if (!holder) {
      return std::nullopt;
    }
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
        now - node.members.last_heard(holder->name));
    std::string why = "the name " + joining.name + " is held by the live node at " +
                      holder->address +
                      (holder->name == node.name()
                           ? std::string(" (the seed itself)")
                           : " (heard from " + std::to_string(silent.count()) + " ms ago)") +
                      "; refused the node at " + joining.address +
                      ". Give it another --name, or stop the other node first (a name is "
                      "free once its node has been silent for --suspect-after)";
    std::cerr << "discache-node[" << node.name() << "]: " << why << std::endl;
    return why;
  }

  static wire::OpResult::Reader first_result(Message& answer) {
    return answer->getRoot<wire::Node::BatchResults>().asReader().getResults()[0];
  }

  static void fill_stats(const NodeContext& node, kj::ArrayPtr<const ShardFigures> figures,
                         wire::Stats::Builder s) {
    const ControlCounters& control = figures[0].control;
    ShardFigures total;
    for (const ShardFigures& f : figures) {
      const ShardCounters& c = f.counters;
      total.counters.gets += c.gets;
      total.counters.hits += c.hits;
      total.counters.misses += c.misses;
      total.counters.puts += c.puts;
      total.counters.deletes += c.deletes;
      total.counters.calls += c.calls;
      total.counters.batch_calls += c.batch_calls;
      total.counters.cross_loop_ops += c.cross_loop_ops;
      total.counters.cross_loop_hops += c.cross_loop_hops;
      total.items += f.items;
      total.bytes += f.bytes;
      total.memory_used += f.memory_used;
      total.memory_limit += f.memory_limit;
      total.evictions += f.evictions;
      total.expirations += f.expirations;
    }
    s.setName(text_of(node.name()));
    s.setItems(total.items);
    s.setBytes(total.bytes);
    s.setMemoryUsed(total.memory_used);
    s.setMemoryLimit(total.memory_limit);
    s.setEvictions(total.evictions);
    s.setExpirations(total.expirations);
    s.setRssBytes(resident_bytes());
    s.setGets(total.counters.gets);
    s.setHits(total.counters.hits);
    s.setMisses(total.counters.misses);
    s.setPuts(total.counters.puts);
    s.setDeletes(total.counters.deletes);
    s.setCalls(total.counters.calls);
    s.setBatchCalls(total.counters.batch_calls);
    s.setConnections(node.connections.open.load(std::memory_order_relaxed));
    s.setHandoffRuns(control.handoff_runs);
    s.setHandoffKeys(control.handoff_keys);
    // Reads missing while a node is filled count as pending too: a rolling
    // restart waits for them before stopping the next owner.
    s.setHandoffPending(control.handoff_pending ||
                        node.heal.read_gate.closed_at(node_now_ms()));
    s.setUnownedSweeps(control.unowned_sweeps);
    s.setUnownedDropped(control.unowned_dropped);
    s.setAntiEntropyRounds(control.anti_entropy_rounds);
    s.setAntiEntropyRepaired(control.anti_entropy_repaired);
    s.setAntiEntropyBytes(control.anti_entropy_bytes);
    s.setThreads(static_cast<std::uint32_t>(node.loop_count()));
    s.setCrossThreadOps(total.counters.cross_loop_ops);
    s.setCrossThreadHops(total.counters.cross_loop_hops);
    const InFlightBudget& budget = *node.in_flight_budget;
    s.setInFlightBudget(budget.limit());
    s.setInFlightBytes(budget.in_use());
    s.setInFlightPeak(budget.peak());
    s.setReadPauses(budget.paused_reads());
    s.setRefusedFrames(budget.refused_frames());
    s.setUptimeMs(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - node.started)
                                                 .count()));
  }

  NodeLoop& loop_;
  NodeContext& node_;
  std::shared_ptr<ConnectionShare> share_;
};

// One per connection, so its lifetime counts connections. Hands out the Node
// capability only for the cluster's cookie.
class GateImpl final : public wire::Gate::Server {
 public:
  GateImpl(NodeLoop& loop, std::string peer, std::shared_ptr<ConnectionShare> share)
      : loop_(loop), peer_(std::move(peer)), share_(std::move(share)) {
    ++loop_.node().connections.open;
  }
  ~GateImpl() { --loop_.node().connections.open; }

  kj::Promise<void> login(LoginContext context) override {
    auto params = context.getParams();
    NodeContext& node = loop_.node();
    if (!node.cookie.empty() && !cookie_matches(node.cookie, view_of(params.getCookie()))) {
      ++node.connections.refused_logins;
      // The log names who knocked, never what they sent.
      const auto name = view_of(params.getClientName()).substr(0, 64);
      std::cerr << "discache-node[" << node.name() << "]: refused "
                << (name.empty() ? std::string_view("a client") : name) << " from " << peer_
                << ": wrong or missing cookie" << std::endl;
      return KJ_EXCEPTION(FAILED, "unauthenticated: wrong or missing cookie");
    }
    // Remember the widest N any client keeps, so no node drops its copies.
    const std::uint32_t wanted = std::min<std::uint32_t>(params.getReplicas(), 16);
    auto& widest = node.connections.widest_client_replicas;
    std::uint32_t seen = widest.load(std::memory_order_relaxed);
    while (wanted > seen && !widest.compare_exchange_weak(seen, wanted)) {
    }
    context.getResults().setNode(kj::heap<NodeImpl>(loop_, share_));
    return kj::READY_NOW;
  }

 private:
  NodeLoop& loop_;
  std::string peer_;
  std::shared_ptr<ConnectionShare> share_;
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
                   std::string peer, NodeLoop& loop, std::uint64_t stall_generation)
      : stream(kj::mv(stream_in)),
        guard(*stream, coalescing, loop.node().connection_limits, loop.timer(), loop.limit_log(),
              loop.budget_queue(), peer,
              [&loop, stall_generation]() { return loop.spans_stall(stall_generation); }),
        network(guard, capnp::rpc::twoparty::Side::SERVER, wire_reader_options()),
        rpc(capnp::makeRpcServer(network, kj::heap<GateImpl>(loop, kj::mv(peer), guard.share()))) {
    // Bound the calls one connection can have waiting to run.
    rpc.setFlowLimit(kFlowLimitWords);
    // Answers sent and not yet written count in the in-flight budget.
    guard.count_queued_answers([this]() { return network.getCurrentQueueSize(); });
  }
  static constexpr std::size_t kFlowLimitWords = 4 * 1024 * 1024;  // 32 MiB of calls
  kj::Own<kj::AsyncIoStream> stream;
  // Before the network, which reads and writes through it.
  ConnectionGuard guard;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

// The connection's RPC over `stream` (a socket, or TLS over it), accepted
// at `stall_generation` (NodeLoop::spans_stall).
kj::Promise<void> serve_stream(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                               NodeLoop& loop, std::uint64_t stall_generation) {
  kj::Maybe<CoalescingStream&> coalescing;
  if (loop.node().coalesce) {
    // Over TLS, not under it: one coalesced writev is one TLS write.
    auto wrapped = kj::heap<CoalescingStream>(kj::mv(stream));
    coalescing = *wrapped;
    stream = kj::mv(wrapped);
  }
  auto connection = kj::heap<ServerConnection>(kj::mv(stream), coalescing, kj::mv(peer), loop,
                                               stall_generation);
  // An idle connection ends like a broken one: destroying it closes the socket.
  auto done = connection->network.onDisconnect().exclusiveJoin(connection->guard.idle_close());
  return done.attach(kj::mv(connection));
}

kj::Promise<void> serve_tls(kj::Own<kj::AsyncIoStream> stream, std::string peer, NodeLoop& loop,
                            TlsServer& tls, std::uint64_t stall_generation) {
  // A connection still in its handshake counts against --max-connections
  // like a logged-in one (GateImpl counts it from then on).
  auto& open = loop.node().connections.open;
  ++open;
  auto slot = kj::defer([&open]() { --open; });
  auto handshake =
      accept_tls(kj::mv(stream), tls, loop.timer(),
                 tls_handshake_timeout(loop.node().connection_limits), loop.limit_log(), peer);
  return handshake.attach(kj::mv(slot))
      .then([peer = kj::mv(peer), &loop, stall_generation](
                kj::Maybe<kj::Own<kj::AsyncIoStream>> secured) mutable -> kj::Promise<void> {
        KJ_IF_MAYBE (s, secured) {
          return serve_stream(kj::mv(*s), kj::mv(peer), loop, stall_generation);
        }
        return kj::READY_NOW;
      });
}

kj::Promise<void> serve_accepted(kj::Own<kj::AsyncIoStream> stream,
                                 kj::ConnectionReceiver& listener, NodeLoop& loop,
                                 kj::TaskSet& tasks);

kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, NodeLoop& loop,
                              kj::TaskSet& tasks) {
  // A failed accept (out of file descriptors, say) must not end the loop's
  // accepting for good: say so, wait a moment, accept again.
  auto accepted = listener.accept().then(
      [](kj::Own<kj::AsyncIoStream>&& stream)
          -> kj::Promise<kj::Maybe<kj::Own<kj::AsyncIoStream>>> {
        return kj::Maybe<kj::Own<kj::AsyncIoStream>>(kj::mv(stream));
      },
      [&loop](kj::Exception&& e) -> kj::Promise<kj::Maybe<kj::Own<kj::AsyncIoStream>>> {
        loop.limit_log().write(LimitKind::accept_failed,
                               std::string("accepting a connection failed: ") +
                                   e.getDescription().cStr() + "; retrying in 100 ms");
        return loop.timer().afterDelay(100 * kj::MILLISECONDS).then([]() {
          return kj::Maybe<kj::Own<kj::AsyncIoStream>>(nullptr);
        });
      });
  return accepted.then([&listener, &loop, &tasks](kj::Maybe<kj::Own<kj::AsyncIoStream>> maybe) {
    KJ_IF_MAYBE (accepted_stream, maybe) {
      return serve_accepted(kj::mv(*accepted_stream), listener, loop, tasks);
    }
    return accept_loop(listener, loop, tasks);
  });
}

kj::Promise<void> serve_accepted(kj::Own<kj::AsyncIoStream> stream,
                                 kj::ConnectionReceiver& listener, NodeLoop& loop,
                                 kj::TaskSet& tasks) {
  {
    NodeContext& node = loop.node();
    if (node.connections.open.load(std::memory_order_relaxed) >= node.max_connections) {
      // Over the limit: close at once (the peer sees DISCONNECTED), say so once
      // per burst rather than once per refused connection.
      if (node.connections.refused_connections++ % 1000 == 0) {
        std::cerr << "discache-node[" << node.name() << "]: connection limit ("
                  << node.max_connections << ") reached; refusing new connections" << std::endl;
      }
      return accept_loop(listener, loop, tasks);
    }
    auto peer = peer_of(*stream);
    tasks.add(serve_connection(kj::mv(stream), kj::mv(peer), loop));
    return accept_loop(listener, loop, tasks);
  }
}

}  // namespace

kj::Promise<void> serve_connection(kj::Own<kj::AsyncIoStream> stream, std::string peer,
                                   NodeLoop& loop) {
  const std::uint64_t stall_generation = loop.stall_generation();
  if (loop.spans_stall(stall_generation)) {
    // It waited in the backlog while the node was stopped: closed unread.
    return kj::READY_NOW;
  }
  KJ_IF_MAYBE (tls, loop.tls()) {
    return serve_tls(kj::mv(stream), kj::mv(peer), loop, *tls, stall_generation);
  }
  return serve_stream(kj::mv(stream), kj::mv(peer), loop, stall_generation);
}

kj::Promise<void> serve(kj::ConnectionReceiver& listener, NodeLoop& loop) {
  // Members are destroyed in reverse order: the tasks before their handler.
  struct Connections {
    // A peer that misbehaves or vanishes ends only its own connection.
    LogTaskFailures errors{"connection ended with an error", /*disconnects_too=*/false};
    kj::TaskSet tasks{errors};
  };
  auto connections = kj::heap<Connections>();
  auto accepting = accept_loop(listener, loop, connections->tasks);
  return accepting.attach(kj::mv(connections));
}

}  // namespace discache::node
