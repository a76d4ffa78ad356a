#include "caller_path.h"

#include <kj/async-io.h>

#include <algorithm>
#include <span>
#include <vector>

#include "cluster_view.h"
#include "kj_duration.h"
#include "node_connection.h"
#include "tls_stream.h"
#include "wire_text.h"

namespace discache::detail {
namespace {

// `after` from now. The loop's timer only reads the clock when the loop
// waits, and this loop sleeps between calls: timeoutAfter() would count from
// the end of the previous call.
kj::TimePoint deadline_in(std::chrono::milliseconds after) {
  return kj::systemPreciseMonotonicClock().now() + to_kj(after);
}

// One application thread's event loop and its connections, for every client
// used on that thread. Lives until the thread exits.
class CallerLoop {
 public:
  // This thread's loop, made on first use; null if the thread already runs
  // a KJ event loop of its own (it then uses the ordinary path).
  static CallerLoop* here() {
    thread_local std::unique_ptr<CallerLoop> loop;
    thread_local bool unusable = false;
    if (loop == nullptr && !unusable) {
      try {
        kj::getCurrentThreadExecutor();  // throws when the thread has no loop
        unusable = true;
      } catch (const kj::Exception&) {
        loop = std::make_unique<CallerLoop>();
      }
    }
    return loop.get();
  }

  CallerLoop() : io_(kj::setupAsyncIo()) {}

  struct Link {
    std::weak_ptr<const int> client;
    std::string node;
    std::string address;
    kj::Own<NodeConnection> connection;
  };

  // This thread's connection from `core` to `member`, or null if there is none yet.
  Link* find(const ClientCore& core, const Member& member) {
    // Connections of clients closed since are dropped here, on their thread.
    std::erase_if(links_, [](const Link& l) { return l.client.expired(); });
    std::erase_if(tls_, [](const Tls& t) { return t.client.expired(); });
    for (auto& link : links_) {
      if (same_client(link.client, core) && link.node == member.name &&
          link.address == member.address) {
        return &link;
      }
    }
    return nullptr;
  }

  Link* connect(const ClientCore& core, const Member& member) {
    auto endpoint = parse_endpoint(member.address);
    if (!endpoint) {
      return nullptr;
    }
    const ClientOptions& options = core.options();
    auto connection =
        io_.provider->getTimer()
            .timeoutAt(deadline_in(options.connect_timeout),
                       NodeConnection::connect(io_.provider->getNetwork(), *endpoint,
                                               options.cookie, options.client_name,
                                               options.coalescing_transport, tls_for(core),
                                               static_cast<std::uint32_t>(options.replicas)))
            .wait(io_.waitScope);
    links_.push_back(Link{core.identity(), member.name, member.address, kj::mv(connection)});
    return &links_.back();
  }

  void drop(const Link* link) {
    std::erase_if(links_, [&](const Link& l) { return &l == link; });
  }

  kj::AsyncIoContext& io() { return io_; }

 private:
  // Same client without touching the reference counts.
  static bool same_client(const std::weak_ptr<const int>& client, const ClientCore& core) {
    return !client.owner_before(core.identity()) && !core.identity().owner_before(client);
  }

  // This thread's TLS context for `core`'s settings, made on first use (a
  // kj::TlsContext stays on the thread that made it); null when TLS is off.
  TlsClient* tls_for(const ClientCore& core) {
    const TlsClientConfig* config = core.tls_config();
    if (config == nullptr) {
      return nullptr;
    }
    for (auto& t : tls_) {
      if (same_client(t.client, core)) {
        return t.context.get();
      }
    }
    tls_.push_back(Tls{core.identity(), kj::heap<TlsClient>(*config)});
    return tls_.back().context.get();
  }

  struct Tls {
    std::weak_ptr<const int> client;
    kj::Own<TlsClient> context;
  };

  kj::AsyncIoContext io_;
  std::vector<Tls> tls_;     // after io_, before links_
  std::vector<Link> links_;  // after io_: destroyed first
};

// One owner's answer.
struct Answer {
  // tombstone: a miss with a recent write behind it, which the I/O thread's
  // path weighs against the other replicas; unreachable: no answer in time
  // or no connection (`error` says which); other: an error the ordinary path
  // explains.
  enum class Kind { value, miss, tombstone, unreachable, other } kind = Kind::other;
  std::string value;
  std::uint64_t version = 0;
  std::optional<Error> error;
};

// Sends one read to `member` and waits at most the deadline. A broken
// connection that had been idle is replaced once (the node may have closed
// it); a node that cannot be reached or does not answer in time is reported
// to the I/O thread.
Answer ask(CallerLoop& loop, ClientCore& core, const Member& member, OpKind kind,
           std::string_view key) {
  const ClientOptions& options = core.options();
  for (int attempt = 0; attempt < 2; ++attempt) {
    CallerLoop::Link* link = loop.find(core, member);
    const bool reused = link != nullptr;
    try {
      if (link == nullptr) {
        link = loop.connect(core, member);
        if (link == nullptr) {
          return {};
        }
      }
      auto& timer = loop.io().provider->getTimer();
      Answer answer;
      if (kind == OpKind::has) {
        auto request = link->connection->node().hasRequest();
        request.setKey(data_of(key));
        auto response = timer.timeoutAt(deadline_in(options.deadline), request.send())
                            .wait(loop.io().waitScope);
        answer.kind = response.getFound() ? Answer::Kind::value : Answer::Kind::miss;
        return answer;
      }
      auto request = link->connection->node().getRequest();
      request.setKey(data_of(key));
      auto response =
          timer.timeoutAt(deadline_in(options.deadline), request.send()).wait(loop.io().waitScope);
      auto result = response.getResult();
      // As on the I/O thread: a write after this read goes above what it saw.
      core.versions().observe(result.getVersion());
      switch (result.getStatus()) {
        case wire::Status::OK:
          answer.kind = Answer::Kind::value;
          answer.value = to_std(result.getValue());
          answer.version = result.getVersion();
          return answer;
        case wire::Status::NOT_FOUND:
          answer.kind = result.getVersion() == 0 ? Answer::Kind::miss : Answer::Kind::tombstone;
          return answer;
        default:
          return answer;  // errors are explained by the ordinary path
      }
    } catch (const kj::Exception& e) {
      if (link != nullptr) {
        loop.drop(link);
      }
      const bool unreachable = e.getType() == kj::Exception::Type::DISCONNECTED ||
                               e.getType() == kj::Exception::Type::OVERLOADED;  // timeout
      if (reused && e.getType() == kj::Exception::Type::DISCONNECTED) {
        continue;  // a stale connection: try a fresh one once
      }
      Answer answer;
      if (unreachable) {
        core.report_unreachable(member.name);
        answer.kind = Answer::Kind::unreachable;
        const std::string where = "node " + member.name + " (" + member.address + ")";
        answer.error =
            e.getType() == kj::Exception::Type::OVERLOADED
                ? Error{Errc::timeout, where + " did not answer within " +
                                           std::to_string(options.deadline.count()) + " ms"}
                : Error{Errc::unavailable, where + " is unreachable"};
      }
      return answer;
    }
  }
  return {};
}

}  // namespace

std::optional<OpResult> CallerPath::try_read(ClientCore& core, OpKind kind, std::string_view key) {
  if (!core.options().caller_thread_reads || core.writes_in_flight().busy(key)) {
    return std::nullopt;  // the I/O thread's connection orders it after the write
  }
  auto route = core.route();
  if (route == nullptr || route->ring.empty()) {
    return std::nullopt;
  }
  std::uint32_t idx[16];
  const std::size_t n =
      route->ring.owners(key, std::span(idx, std::min<std::size_t>(route->replicas, 16)));
  // On the stack: this runs for every blocking read.
  const Member* live_owners[16];
  std::size_t live_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!route->down[idx[i]]) {
      live_owners[live_count++] = &route->members[idx[i]];
    }
  }
  const std::span<const Member* const> live(live_owners, live_count);
  if (live.empty()) {
    return std::nullopt;
  }
  CallerLoop* loop = CallerLoop::here();
  if (loop == nullptr) {
    return std::nullopt;
  }
  // The same policy as ReplicatedOp's reads, for the cases it can finish.
  const bool fallback = core.options().read_fallback_on_miss;
  bool missed = false;
  std::optional<Error> first_error;
  for (const Member* owner : live) {
    if (missed && !fallback) {
      break;
    }
    Answer answer = ask(*loop, core, *owner, kind, key);
    switch (answer.kind) {
      case Answer::Kind::value:
        if (missed) {
          return std::nullopt;  // found after a miss: the ordinary path repairs
        }
        return Item{std::move(answer.value), answer.version};
      case Answer::Kind::miss:
        missed = true;
        break;
      case Answer::Kind::unreachable:
        if (!first_error) {
          first_error = std::move(answer.error);
        }
        break;
      case Answer::Kind::tombstone:
      case Answer::Kind::other:
        return std::nullopt;
    }
  }
  if (missed) {
    if (std::chrono::steady_clock::now() < route->transition_until) {
      return std::nullopt;  // previous owners may still hold it
    }
    return std::unexpected(Error{Errc::not_found, "not found"});
  }
  return std::unexpected(first_error.value_or(Error{Errc::unavailable, "no owner answered"}));
}

}  // namespace discache::detail
