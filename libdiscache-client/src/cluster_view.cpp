#include "cluster_view.h"

#include <kj/debug.h>

#include <algorithm>

#include "kj_duration.h"
#include "member_order.h"
#include "member_wire.h"
#include "size_limits.h"
#include "wire_text.h"
#include "task_failures.h"

namespace discache::detail {
namespace {

// Same members in the same states (last-heard times aside).
bool same_list(const MemberList& a, const MemberList& b) {
  if (a.members.size() != b.members.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.members.size(); ++i) {
    const auto& x = a.members[i];
    const auto& y = b.members[i];
    if (x.name != y.name || x.address != y.address || x.state != y.state ||
        x.incarnation != y.incarnation) {
      return false;
    }
  }
  return true;
}

bool is_serving(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}

// Receives member-list pushes from the node we watch through.
class PushedMembers final : public wire::MemberWatcher::Server {
 public:
  explicit PushedMembers(ClusterView& view) : view_(view) {}
  kj::Promise<void> changed(ChangedContext context) override {
    view_.on_pushed(read_member_list(context.getParams().getList()));
    return kj::READY_NOW;
  }

 private:
  ClusterView& view_;
};

}  // namespace

ClusterView::ClusterView(kj::AsyncIoContext& io, const ClientOptions& options,
                         VersionClock& versions, const TlsClientConfig* tls)
    : io_(io),
      options_(options),
      tls_(tls != nullptr ? kj::heap<TlsClient>(*tls) : kj::Own<TlsClient>()),
      versions_(versions),
      task_errors_(kj::heap<LogTaskFailures>("discache client task failed")),
      tasks_(*task_errors_) {}

ClusterView::~ClusterView() = default;

Error ClusterView::translate(const kj::Exception& exception, const Member& member) const {
  // Seeds are linked under "address:ADDR" before their names are known.
  std::string where = member.name.starts_with("address:")
                          ? "seed " + member.address
                          : "node " + member.name + " (" + member.address + ")";
  if (is_tls_failure(exception)) {
    std::string_view why = exception.getDescription().cStr();
    if (why.starts_with(kTlsFailurePrefix)) {
      return Error{Errc::tls, std::string(why.substr(std::string_view(kTlsFailurePrefix).size()))};
    }
    // A TLS-only node answered our plaintext login.
    return Error{Errc::tls, where + " accepts only TLS: give the cluster's CA (tls_ca_file, " +
                                "discache-ctl --tls-ca)"};
  }
  if (exception.getType() == kj::Exception::Type::DISCONNECTED) {
    return Error{Errc::unavailable, where + " is unreachable"};
  }
  if (exception.getDescription().startsWith("remote exception: unauthenticated") ||
      exception.getDescription().startsWith("unauthenticated")) {
    return Error{Errc::unauthenticated, where + " refused our cookie (wrong or missing)"};
  }
  if (exception.getType() == kj::Exception::Type::OVERLOADED) {
    // What kj::Timer::timeoutAfter throws.
    return Error{Errc::timeout, where + " did not answer in time"};
  }
  return Error{Errc::protocol, where + ": " + std::string(exception.getDescription().cStr())};
}

wire::Node::Client ClusterView::node_for(const Member& member) {
  Link& link = links_[member.name];
  if (link.node) {
    return *link.node;
  }
  auto endpoint = parse_endpoint(member.address);
  if (!endpoint) {
    return wire::Node::Client(
        KJ_EXCEPTION(FAILED, "member has an unparsable address", member.address.c_str()));
  }
  const std::uint64_t generation = next_generation_++;
  link.generation = generation;
  auto connected =
      io_.provider->getTimer()
          .timeoutAfter(to_kj(options_.connect_timeout),
                        NodeConnection::connect(io_.provider->getNetwork(), *endpoint,
                                                options_.cookie, options_.client_name,
                                                options_.coalescing_transport, tls_.get(),
                                                static_cast<std::uint32_t>(options_.replicas)))
          .then(
              [this, name = member.name, generation](kj::Own<NodeConnection> connection) {
                auto node = connection->node();
                auto it = links_.find(name);
                if (it != links_.end() && it->second.generation == generation) {
                  // A connection that ends is forgotten at once, so the next op
                  // reconnects instead of failing on the dead one. The node is
                  // not marked down here: a node closes connections that sat
                  // idle (--idle-timeout), which is no failure. A node that did
                  // fail is marked down by the calls that were in flight on the
                  // connection, or by the next op when it cannot reconnect.
                  tasks_.add(connection->on_disconnect().then([this, name, generation]() {
                    auto found = links_.find(name);
                    if (found != links_.end() && found->second.generation == generation) {
                      drop_link(name);
                    }
                  }));
                  it->second.connection = kj::mv(connection);
                }
                return node;
              },
              [](kj::Exception&& e) -> wire::Node::Client {
                if (is_tls_failure(e)) {
                  kj::throwFatalException(kj::mv(e));  // translate() explains it
                }
                // Whatever else stopped the connect, callers see "unreachable".
                kj::throwFatalException(
                    kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
                                  kj::str("cannot connect: ", e.getDescription())));
              });
  link.node = wire::Node::Client(kj::mv(connected));
  return *link.node;
}

void ClusterView::drop_link(const std::string& name, bool broken) {
  if (broken) {
    mark_down(name);
  }
  if (name == watch_link_) {
    watch_handle_.reset();
    watch_link_.clear();
  }
  auto it = links_.find(name);
  if (it == links_.end()) {
    return;
  }
  // The connection may be the one whose callback is running: destroy it later.
  auto old = kj::mv(it->second.connection);
  links_.erase(it);
  if (old.get() != nullptr) {
    tasks_.add(kj::evalLater([old = kj::mv(old)]() {}));
  }
}

void ClusterView::apply_members(MemberList list) {
  std::vector<Member> serving;
  for (const auto& m : list.members) {
    if (is_serving(m.state)) {
      serving.push_back(m);
    }
  }
  std::sort(serving.begin(), serving.end(),
            [](const Member& a, const Member& b) { return a.name < b.name; });
  // Addresses may change under a name (a node restarted elsewhere).
  for (const auto& m : serving) {
    auto it = links_.find(m.name);
    if (it != links_.end()) {
      auto old = std::find_if(ring_members_.begin(), ring_members_.end(),
                              [&](const Member& r) { return r.name == m.name; });
      if (old != ring_members_.end() && old->address != m.address) {
        drop_link(m.name);
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& m : serving) {
    names.push_back(m.name);
  }
  restart_probes(list);
  const bool same_ring = names == ring_.nodes();
  const bool changed = list.epoch != members_.epoch || !same_list(list, members_);
  members_ = std::move(list);
  auto old_ring_members = std::move(ring_members_);
  ring_members_ = std::move(serving);
  if (!same_ring) {
    if (!ring_.empty()) {
      previous_ring_ = std::move(ring_);
      previous_members_ = std::move(old_ring_members);
      previous_until_ = io_.provider->getTimer().now() + to_kj(options_.transition_window);
    }
    ring_ = HashRing(std::move(names));
  }
  publish_route();
  if (changed) {
    for (auto& listener : listeners_) {
      listener(members_);
    }
  }
}

void ClusterView::publish_routes_to(RouteBoard& board) {
  route_board_ = &board;
  publish_route();
}

void ClusterView::publish_route() {
  if (route_board_ == nullptr) {
    return;
  }
  auto snapshot = std::make_shared<RouteSnapshot>();
  snapshot->ring = ring_;
  snapshot->members = ring_members_;
  for (const auto& m : ring_members_) {
    // A node still owed tombstones is not read on callers' connections: the
    // tombstones travel on this thread's connection and could arrive later.
    snapshot->down.push_back(down_.contains(m.name) || hints_.contains(m.name));
  }
  snapshot->replicas = replicas();
  const kj::TimePoint now = io_.provider->getTimer().now();
  if (!previous_ring_.empty() && previous_until_ > now) {
    snapshot->transition_until =
        std::chrono::steady_clock::now() +
        std::chrono::nanoseconds((previous_until_ - now) / kj::NANOSECONDS);
  }
  route_board_->publish(std::move(snapshot));
}

void ClusterView::on_pushed(MemberList list) { fold_in(list); }

void ClusterView::fold_in(const MemberList& list) {
  // Entry by entry, by the nodes' own rule: a list is never taken or refused
  // whole by its epoch, which is per node (one that left may have pushed an
  // epoch the others reach only much later).
  MemberList merged = members_;
  const std::uint64_t epoch = merged.epoch;
  const std::uint32_t replicas = merged.replicas;
  if (merge_member_list(merged, list) || merged.epoch != epoch || merged.replicas != replicas) {
    apply_members(std::move(merged));
  }
  watch_elsewhere_if_leaving();
}

void ClusterView::watch_elsewhere_if_leaving() {
  if (watch_link_.empty() || resubscribing_) {
    return;
  }
  // Links to seeds are named "address:HOST:PORT" (fetch_members).
  const std::string_view address = std::string_view(watch_link_).substr(watch_link_.find(':') + 1);
  for (const auto& m : members_.members) {
    if (m.address == address &&
        (m.state == MemberState::alive || m.state == MemberState::suspect)) {
      return;
    }
  }
  // The node we hear changes from is leaving, gone or unknown: its pushes
  // stop, and a rolling restart can change the ring several times before
  // the next refresh. Subscribe through a serving member now.
  watch_handle_.reset();
  watch_link_.clear();
  resubscribing_ = true;
  tasks_.add(fetch_members(0).then([this](std::expected<MemberList, Error> list) {
    resubscribing_ = false;
    if (list) {
      fold_in(*list);
    }
  }));
}

void ClusterView::watch_through(const Member& target) {
  auto request = node_for(target).watchRequest();
  request.setWatcher(kj::heap<PushedMembers>(*this));
  watch_link_ = target.name;
  tasks_.add(request.send().then(
      [this, name = target.name](capnp::Response<wire::Node::WatchResults> response) {
        if (watch_link_ != name) {
          return;  // that link broke meanwhile
        }
        watch_handle_ = response.getHandle();
        on_pushed(read_member_list(response.getList()));
      },
      [this, name = target.name](kj::Exception&&) {
        if (watch_link_ == name) {
          watch_link_.clear();  // the next refresh subscribes again
        }
      }));
}

std::vector<std::string> ClusterView::member_candidates() const {
  std::vector<std::string> out;
  for (const auto& m : ring_members_) {
    out.push_back(m.address);
  }
  for (const auto& s : options_.seeds) {
    if (std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(s);
    }
  }
  return out;
}

kj::Promise<std::expected<MemberList, Error>> ClusterView::fetch_members(
    std::size_t candidate, std::optional<Error> notable) {
  auto candidates = member_candidates();
  if (candidate >= candidates.size()) {
    if (notable) {
      return std::expected<MemberList, Error>(std::unexpected(std::move(*notable)));
    }
    return std::expected<MemberList, Error>(std::unexpected(Error{
        Errc::no_seed,
        "no seed or member answered (tried " + std::to_string(candidates.size()) + " addresses)"}));
  }
  // A link named after the address: seeds are known only by address.
  Member target{"address:" + candidates[candidate], candidates[candidate], MemberState::alive, 0};
  auto call = node_for(target).membersRequest().send().then(
      [this, target](capnp::Response<wire::Node::MembersResults> response) {
        if (watch_link_.empty()) {
          watch_through(target);  // pushes from now on; refresh is the fallback
        }
        return std::expected<MemberList, Error>(read_member_list(response.getList()));
      });
  return io_.provider->getTimer()
      .timeoutAfter(to_kj(options_.connect_timeout + options_.deadline), kj::mv(call))
      .catch_([this, target](kj::Exception&& e) {
        drop_link(target.name);
        return std::expected<MemberList, Error>(std::unexpected(translate(e, target)));
      })
      .then([this, candidate,
             notable = std::move(notable)](std::expected<MemberList, Error> result) mutable
            -> kj::Promise<std::expected<MemberList, Error>> {
        if (result || result.error().is(Errc::unauthenticated)) {
          return kj::mv(result);  // a wrong cookie is final: say so, not "no seed"
        }
        // Another seed may have a good certificate; if none answers, the
        // certificate problem is the news, not "no seed".
        if (!notable && result.error().is(Errc::tls)) {
          notable = result.error();
        }
        return fetch_members(candidate + 1, std::move(notable));
      });
}

kj::Promise<std::expected<void, Error>> ClusterView::bootstrap() {
  if (options_.direct) {
    const std::string& address = options_.seeds.front();
    MemberList list;
    list.epoch = 0;
    list.members.push_back(Member{address, address, MemberState::alive, 0});
    apply_members(std::move(list));
    return std::expected<void, Error>();
  }
  return fetch_members(0).then(
      [this](std::expected<MemberList, Error> list) -> std::expected<void, Error> {
        if (!list) {
          return std::unexpected(list.error());
        }
        apply_members(std::move(*list));
        return {};
      });
}

kj::Promise<void> ClusterView::refresh_forever() {
  if (options_.direct) {
    return kj::NEVER_DONE;
  }
  return io_.provider->getTimer()
      .afterDelay(to_kj(options_.refresh_interval))
      .then([this]() { return fetch_members(0); })
      .then([this](std::expected<MemberList, Error> list) {
        if (list) {
          fold_in(*list);
        }
        return refresh_forever();
      });
}

std::size_t ClusterView::replicas() const {
  return options_.replicas != 0 ? options_.replicas : std::max<std::uint32_t>(1, members_.replicas);
}

std::vector<Member> ClusterView::owners(std::string_view key) const {
  std::vector<std::uint32_t> idx(replicas());
  idx.resize(ring_.owners(key, idx));
  std::vector<Member> out;
  for (auto i : idx) {
    out.push_back(ring_members_[i]);
  }
  return out;
}

RingInfo ClusterView::ring_info() const {
  RingInfo info;
  info.epoch = members_.epoch;
  auto shares = ring_.shares();
  double largest = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    info.nodes.push_back(
        RingNode{ring_members_[i].name, ring_members_[i].address, ring_.vnodes(), shares[i]});
    largest = std::max(largest, shares[i]);
  }
  if (!shares.empty()) {
    info.imbalance = largest * static_cast<double>(shares.size());
  }
  return info;
}

void ClusterView::collect_stats(std::move_only_function<void(std::vector<NodeStats>)> done) {
  kj::Vector<kj::Promise<NodeStats>> calls;
  for (const auto& member : ring_members_) {
    auto call = node_for(member).statsRequest().send().then(
        [member](capnp::Response<wire::Node::StatsResults> response) {
          auto s = response.getStats();
          NodeStats out;
          out.name = member.name;
          out.address = member.address;
          out.items = s.getItems();
          out.bytes = s.getBytes();
          out.gets = s.getGets();
          out.hits = s.getHits();
          out.misses = s.getMisses();
          out.puts = s.getPuts();
          out.deletes = s.getDeletes();
          out.calls = s.getCalls();
          out.batch_calls = s.getBatchCalls();
          out.connections = s.getConnections();
          out.uptime_ms = s.getUptimeMs();
          out.handoff_runs = s.getHandoffRuns();
          out.handoff_keys = s.getHandoffKeys();
          out.handoff_pending = s.getHandoffPending();
          out.threads = s.getThreads();
          out.cross_thread_ops = s.getCrossThreadOps();
          out.cross_thread_hops = s.getCrossThreadHops();
          out.unowned_sweeps = s.getUnownedSweeps();
          out.unowned_dropped = s.getUnownedDropped();
          out.anti_entropy_rounds = s.getAntiEntropyRounds();
          out.anti_entropy_repaired = s.getAntiEntropyRepaired();
          out.anti_entropy_bytes = s.getAntiEntropyBytes();
          out.memory_used = s.getMemoryUsed();
          out.memory_limit = s.getMemoryLimit();
          out.rss_bytes = s.getRssBytes();
          out.evictions = s.getEvictions();
          out.expirations = s.getExpirations();
          out.in_flight_budget = s.getInFlightBudget();
          out.in_flight_bytes = s.getInFlightBytes();
          out.in_flight_peak = s.getInFlightPeak();
          out.read_pauses = s.getReadPauses();
          out.refused_frames = s.getRefusedFrames();
          return out;
        });
    calls.add(io_.provider->getTimer()
                  .timeoutAfter(to_kj(options_.deadline), kj::mv(call))
                  .catch_([this, member](kj::Exception&& e) {
                    NodeStats out;
                    out.name = member.name;
                    out.address = member.address;
                    out.error = translate(e, member);
                    return out;
                  }));
  }
  auto shared_done =
      std::make_shared<std::move_only_function<void(std::vector<NodeStats>)>>(std::move(done));
  tasks_.add(kj::joinPromises(calls.releaseAsArray()).then([shared_done](kj::Array<NodeStats> all) {
    (*shared_done)(std::vector<NodeStats>(std::make_move_iterator(all.begin()),
                                          std::make_move_iterator(all.end())));
  }));
}

void ClusterView::locate(std::string_view key,
                         std::move_only_function<void(std::vector<Replica>)> done) {
  kj::Vector<kj::Promise<Replica>> asks;
  for (const auto& member : owners(key)) {
    auto request = node_for(member).hasRequest();
    request.setKey(data_of(key));
    auto call = request.send().then([member](capnp::Response<wire::Node::HasResults> response) {
      return Replica{member, response.getFound(), std::nullopt};
    });
    asks.add(io_.provider->getTimer()
                 .timeoutAfter(to_kj(options_.deadline), kj::mv(call))
                 .catch_([this, member](kj::Exception&& e) {
                   return Replica{member, std::nullopt, translate(e, member)};
                 }));
  }
  auto shared_done =
      std::make_shared<std::move_only_function<void(std::vector<Replica>)>>(std::move(done));
  tasks_.add(kj::joinPromises(asks.releaseAsArray()).then([shared_done](kj::Array<Replica> all) {
    (*shared_done)(std::vector<Replica>(std::make_move_iterator(all.begin()),
                                        std::make_move_iterator(all.end())));
  }));
}

void ClusterView::drain(std::string_view node,
                        std::move_only_function<void(std::expected<void, Error>)> done) {
  using Result = std::expected<void, Error>;
  const Member* target = nullptr;
  for (const auto& m : members_.members) {
    if (m.name == node || m.address == node) {
      target = &m;
    }
  }
  if (target == nullptr) {
    done(std::unexpected(
        Error{Errc::invalid_argument, "no member named or addressed '" + std::string(node) + "'"}));
    return;
  }
  auto shared_done = std::make_shared<std::move_only_function<void(Result)>>(std::move(done));
  const Member member = *target;
  auto call = node_for(member).drainRequest().send().ignoreResult();
  tasks_.add(io_.provider->getTimer()
                 .timeoutAfter(to_kj(options_.deadline), kj::mv(call))
                 .then([shared_done]() { (*shared_done)(Result()); },
                       [this, shared_done, member](kj::Exception&& e) {
                         (*shared_done)(std::unexpected(translate(e, member)));
                       }));
}

}  // namespace discache::detail
