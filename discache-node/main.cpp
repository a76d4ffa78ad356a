// discache-node: one storage node. It stores what it is sent and never routes.
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/debug.h>
#include <kj/main.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "anti_entropy.h"
#include "cookie.h"
#include "cross_thread_queue.h"
#include "discovery.h"
#include "duration_text.h"
#include "endpoint.h"
#include "exit_code_context.h"
#include "expiry_sweeper.h"
#include "gossip_loop.h"
#include "kj_duration.h"
#include "listen_sockets.h"
#include "node_context.h"
#include "node_loop.h"
#include "node_server.h"
#include "rebalancer.h"
#include "resident_memory.h"
#include "size_limits.h"
#include "size_text.h"
#include "tls_flags.h"
#include "tls_stream.h"
#include "usable_cores.h"
#include "worker_loops.h"

namespace discache::node {
namespace {

constexpr const char* kVersion = "discache-node 0.1.0";

class NodeMain {
 public:
  explicit NodeMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context_, kVersion,
                           "Runs one discache storage node: an in-memory key-value store "
                           "served over Cap'n Proto RPC. Clients route keys to nodes; nodes "
                           "only store, and keep the member list.")
        .addOptionWithArg({'l', "listen"}, KJ_BIND_METHOD(*this, set_listen), "<host:port>",
                          "Address to listen on (default 127.0.0.1:7400). Port 0 picks a free "
                          "port; the address used is printed on stderr.")
        .addOptionWithArg({'s', "seed"}, KJ_BIND_METHOD(*this, add_seed), "<host:port>",
                          "Join the cluster through this member. Repeatable: the first that "
                          "answers is used.")
        .addOptionWithArg({"discover"}, KJ_BIND_METHOD(*this, add_discover), "<how>",
                          "Find members without seeds: dns:NAME:PORT (every address NAME "
                          "resolves to, re-resolved every 5 s), or multicast[:GROUP:PORT] "
                          "(announce and listen on UDP; default 239.255.45.92:45892). "
                          "Repeatable.")
        .addOptionWithArg({"cluster"}, KJ_BIND_METHOD(*this, set_cluster), "<name>",
                          "Cluster name in discovery announcements (default discache): "
                          "nodes ignore announcements of other clusters.")
        .addOptionWithArg({'n', "name"}, KJ_BIND_METHOD(*this, set_name), "<name>",
                          "Stable name of this node (default: the listen address). A node "
                          "restarted with the same name takes the same place on the ring.")
        .addOptionWithArg({"replicas"}, KJ_BIND_METHOD(*this, set_replicas), "<n>",
                          "Copies of each key (N), learnt by clients with the member list "
                          "(default 2). Give every node the same value.")
        .addOptionWithArg({"cookie-file"}, KJ_BIND_METHOD(*this, set_cookie_file), "<path>",
                          "The cluster's shared secret, as the Erlang cookie guards the "
                          "original (default: $DISCACHE_COOKIE, else none). Clients, tools and "
                          "other nodes must present it.")
        .addOption({"insecure"}, KJ_BIND_METHOD(*this, set_insecure),
                   "Allow listening on a non-loopback address without a cookie.")
        .addOptionWithArg({"tls-cert"}, KJ_BIND_METHOD(tls_flags_, set_cert), "<path>",
                          "PEM certificate (then any intermediates) of this node: its port "
                          "then serves only TLS. Needs --tls-key and --tls-ca. Clients check "
                          "it names the host they dial, as a DNS entry of subjectAltName (an "
                          "IP address too: DNS:10.0.0.1).")
        .addOptionWithArg({"tls-key"}, KJ_BIND_METHOD(tls_flags_, set_key), "<path>",
                          "PEM private key (unencrypted) of the --tls-cert certificate.")
        .addOptionWithArg({"tls-ca"}, KJ_BIND_METHOD(tls_flags_, set_ca), "<path>",
                          "PEM certificate(s) of the CA that signed the nodes' certificates: "
                          "this node talks TLS to its peers and checks theirs against it. TLS "
                          "encrypts; the cookie still authenticates.")
        .addOptionWithArg({"max-connections"}, KJ_BIND_METHOD(*this, set_max_connections), "<n>",
                          "Connections beyond this are closed at once, with a log line "
                          "(default 10000; the open-file limit is raised to fit).")
        .addOptionWithArg({"idle-timeout"}, KJ_BIND_METHOD(*this, set_idle_timeout), "<duration>",
                          "Close a connection that moved no message either way for this long, "
                          "with a log line (default 5m; 0 never). Clients reconnect on their "
                          "next op.")
        .addOptionWithArg({"max-calls-in-flight"}, KJ_BIND_METHOD(*this, set_max_calls), "<n>",
                          "Calls one connection may have open (sent, answer not yet taken); "
                          "a peer past this is disconnected, with a log line (default 16384).")
        .addOptionWithArg({"in-flight-budget"}, KJ_BIND_METHOD(*this, set_in_flight_budget),
                          "<size>",
                          "Bytes the node may hold outside --memory for its clients, over all "
                          "connections: requests being read or run and answers not yet "
                          "written. When it is spent the node stops reading requests (they "
                          "wait in the kernel and the senders), the heaviest connections "
                          "first, and answers drain it. A request counts its size, twice with "
                          "several --threads (the copy for other threads); one that counts "
                          "more than 7/8 of the budget is refused with an error. RSS stays "
                          "within --memory + this + a fixed margin (docs/design.md). Default: "
                          "a quarter of --memory, at least 32MiB and enough for the largest "
                          "request --max-value-bytes allows.")
        .addOptionWithArg({"read-timeout"}, KJ_BIND_METHOD(*this, set_read_timeout), "<duration>",
                          "Close a connection whose message has not fully arrived this long "
                          "after its first byte, with a log line (default 20s; 0 never): "
                          "ends peers that trickle bytes to hold connections open.")
        .addOptionWithArg({"probe-interval"}, KJ_BIND_METHOD(*this, set_probe_interval),
                          "<duration>", "How often each peer is probed (default 250ms).")
        .addOptionWithArg({"suspect-after"}, KJ_BIND_METHOD(*this, set_suspect_after), "<duration>",
                          "Silence after which a peer is suspect (default 1500ms).")
        .addOptionWithArg({"dead-after"}, KJ_BIND_METHOD(*this, set_dead_after), "<duration>",
                          "Silence after which a peer is dead and leaves the ring (default 4s).")
        .addOptionWithArg({"forget-after-stall"}, KJ_BIND_METHOD(*this, set_forget_after_stall),
                          "<duration>",
                          "If this process was stopped for longer than this (SIGSTOP, a paused "
                          "container or VM; not a busy or starved thread), peers may have "
                          "written or deleted its keys meanwhile: it forgets every item, "
                          "closes connections opened before (their callers gave up), and takes "
                          "a new boot id so its peers refill it, as for a restarted node. A miss "
                          "is safe, a stale value is not. Keep it at or below the clients' "
                          "deadline (default 1s; 0: never).")
        .addOptionWithArg({"transport"}, KJ_BIND_METHOD(*this, set_transport), "<coalescing|plain>",
                          "coalescing (default): read ahead and send each event-loop turn's "
                          "writes in one writev; plain: Cap'n Proto's own (for comparison).")
        .addOptionWithArg({"drain-timeout"}, KJ_BIND_METHOD(*this, set_drain_timeout), "<duration>",
                          "On SIGTERM or drain, how long handing keys over may take before "
                          "the node exits anyway (default 30s).")
        .addOptionWithArg({"unowned-grace"}, KJ_BIND_METHOD(*this, set_unowned_grace), "<duration>",
                          "How long after the ring last changed this node keeps copies of "
                          "keys it no longer owns (clients ask previous owners for their "
                          "transition window, 30 s by default, and may learn of the change "
                          "late); then they are dropped, so a stale copy can never outlive a "
                          "delete (default 60s).")
        .addOptionWithArg({"anti-entropy-interval"}, KJ_BIND_METHOD(*this, set_anti_entropy),
                          "<duration>",
                          "How often each pair of nodes that own keys in common compares "
                          "digests of them and copies the newer side to the older, so a "
                          "replica that missed writes or deletes converges without a read "
                          "(default 30s: a pair must meet within the 60 s tombstone "
                          "lifetime; 0 turns it off). Give every node the same value.")
        .addOptionWithArg({"tombstone-lifetime"}, KJ_BIND_METHOD(*this, set_tombstone_lifetime),
                          "<duration>",
                          "How long a delete is remembered once the cluster is whole and "
                          "settled (no member suspect or dead, every handoff done): while a "
                          "member is cut off, tombstones do not expire, so a healed partition "
                          "cannot bring deleted keys back (default 60s).")
        .addOptionWithArg({"max-key-bytes"}, KJ_BIND_METHOD(*this, set_max_key), "<bytes>",
                          "Largest key accepted (default 1024).")
        .addOptionWithArg({"max-value-bytes"}, KJ_BIND_METHOD(*this, set_max_value), "<bytes>",
                          "Largest value accepted (default 1048576).")
        .addOptionWithArg({"threads"}, KJ_BIND_METHOD(*this, set_threads), "<n>",
                          "Event-loop threads, all accepting on the listen port "
                          "(SO_REUSEPORT); each owns the keys whose hash falls in its shard "
                          "of --memory, and ops that arrive on another thread's connection "
                          "are handed to the owner in batches (default: the cores this "
                          "process may use, as affinity and cgroup quota allow, lowered so "
                          "each shard has at least 1 MiB and takes the largest item "
                          "--max-key-bytes and --max-value-bytes allow; 1 to 64).")
        .addOptionWithArg({"memory"}, KJ_BIND_METHOD(*this, set_memory), "<size>",
                          "Memory for items, their headers and the index, e.g. 512MiB or "
                          "2GiB (default 64MiB, memcached's default; 1MiB to 31GiB). When "
                          "full, items are evicted; the process's RSS stays within a few MiB "
                          "of this plus per-connection buffers.")
        .addOptionWithArg({"eviction"}, KJ_BIND_METHOD(*this, set_eviction), "<policy>",
                          "What a full node evicts: sieve (default; misses less than LRU on "
                          "skewed workloads and resists scans) or lru (for comparison).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity set_listen(kj::StringPtr arg) {
    auto endpoint = parse_endpoint(arg.cStr(), /*allow_port_zero=*/true);
    if (!endpoint) {
      return kj::str(endpoint.error().message.c_str());
    }
    listen_ = *endpoint;
    return true;
  }

  kj::MainBuilder::Validity add_seed(kj::StringPtr arg) {
    auto endpoint = parse_endpoint(arg.cStr());
    if (!endpoint) {
      return kj::str(endpoint.error().message.c_str());
    }
    seeds_.push_back(*endpoint);
    return true;
  }

  kj::MainBuilder::Validity set_name(kj::StringPtr arg) {
    if (arg.size() == 0 || arg.size() > 255) {
      return "--name must be 1 to 255 characters";
    }
    name_ = std::string(arg.cStr());
    return true;
  }

  static std::optional<std::uint64_t> parse_count(kj::StringPtr arg) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(arg.begin(), arg.end(), value);
    if (ec != std::errc{} || end != arg.end() || arg.size() == 0) {
      return std::nullopt;
    }
    return value;
  }

  kj::MainBuilder::Validity set_replicas(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n < 1 || *n > 16) {
      return "--replicas must be a number from 1 to 16";
    }
    replicas_ = static_cast<std::uint32_t>(*n);
    return true;
  }

  kj::MainBuilder::Validity set_max_key(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n < 1 || *n > 65536) {
      return "--max-key-bytes must be a number from 1 to 65536";
    }
    limits_.max_key_bytes = *n;
    return true;
  }

  kj::MainBuilder::Validity set_max_value(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n > 32 * 1024 * 1024) {
      return "--max-value-bytes must be a number from 0 to 33554432 (32 MiB)";
    }
    limits_.max_value_bytes = *n;
    return true;
  }

  kj::MainBuilder::Validity set_memory(kj::StringPtr arg) {
    auto bytes = parse_size_bytes(arg.cStr());
    if (!bytes || *bytes < (1ull << 20) || *bytes > (31ull << 30)) {
      return "--memory must be a size from 1MiB to 31GiB, such as 64MiB or 2GiB";
    }
    limits_.memory_bytes = *bytes;
    return true;
  }

  kj::MainBuilder::Validity set_threads(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n < 1 || *n > kMaxThreads) {
      return "--threads must be a number from 1 to 64";
    }
    threads_ = static_cast<std::size_t>(*n);
    return true;
  }

  // The loops to run: --threads, or one per usable core, but never so many
  // that a shard gets less than 1 MiB of --memory, or (by default) that the
  // largest item a shard takes (1/8 of it) is below the largest key and
  // value the node accepts.
  std::size_t loop_count() {
    const std::size_t fit = std::max<std::size_t>(1, limits_.memory_bytes / kMinShardBytes);
    if (threads_ != 0) {
      if (threads_ > fit) {
        context_.exitError(kj::str("--threads ", threads_, " needs at least ", threads_,
                                   " MiB of --memory (1 MiB per thread's shard)"));
      }
      return threads_;
    }
    const std::uint64_t largest_item =
        limits_.max_key_bytes + limits_.max_value_bytes + kItemHeaderAllowance;
    const std::size_t fit_item =
        std::max<std::uint64_t>(1, limits_.memory_bytes / (8 * largest_item));
    return std::min({usable_cores(), fit, fit_item, kMaxThreads});
  }

  kj::MainBuilder::Validity set_eviction(kj::StringPtr arg) {
    auto policy = parse_eviction_policy(arg.cStr());
    if (!policy) {
      return "--eviction must be sieve or lru";
    }
    limits_.eviction = *policy;
    return true;
  }

  kj::MainBuilder::Validity set_duration(kj::StringPtr arg, std::chrono::milliseconds& out,
                                         const char* flag) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms == 0 || *ms > 3'600'000) {
      return kj::str(flag, " wants a duration from 1ms to 1h, such as 250ms or 4s");
    }
    out = std::chrono::milliseconds(*ms);
    return true;
  }
  kj::MainBuilder::Validity set_probe_interval(kj::StringPtr arg) {
    return set_duration(arg, timing_.probe_interval, "--probe-interval");
  }
  kj::MainBuilder::Validity set_suspect_after(kj::StringPtr arg) {
    return set_duration(arg, timing_.suspect_after, "--suspect-after");
  }
  kj::MainBuilder::Validity set_dead_after(kj::StringPtr arg) {
    return set_duration(arg, timing_.dead_after, "--dead-after");
  }

  kj::MainBuilder::Validity set_forget_after_stall(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms > 3'600'000) {
      return "--forget-after-stall wants a duration up to 1h, such as 1s (0: never)";
    }
    forget_after_stall_ = std::chrono::milliseconds(*ms);
    return true;
  }

  kj::MainBuilder::Validity set_transport(kj::StringPtr arg) {
    if (arg == "coalescing" || arg == "plain") {
      coalesce_ = arg == "coalescing";
      return true;
    }
    return "--transport is coalescing or plain";
  }

  kj::MainBuilder::Validity set_drain_timeout(kj::StringPtr arg) {
    return set_duration(arg, drain_timeout_, "--drain-timeout");
  }

  kj::MainBuilder::Validity set_unowned_grace(kj::StringPtr arg) {
    return set_duration(arg, unowned_grace_, "--unowned-grace");
  }

  kj::MainBuilder::Validity set_anti_entropy(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms > 3'600'000) {
      return "--anti-entropy-interval wants a duration up to 1h, such as 30s (0: off)";
    }
    anti_entropy_interval_ = std::chrono::milliseconds(*ms);
    return true;
  }

  kj::MainBuilder::Validity set_tombstone_lifetime(kj::StringPtr arg) {
    return set_duration(arg, tombstone_lifetime_, "--tombstone-lifetime");
  }

  kj::MainBuilder::Validity set_max_connections(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n < 1 || *n > 1'000'000) {
      return "--max-connections must be a number from 1 to 1000000";
    }
    max_connections_ = *n;
    return true;
  }

  kj::MainBuilder::Validity set_idle_timeout(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms > 24 * 3'600'000) {
      return "--idle-timeout wants a duration up to 24h, such as 30s or 5m (0: never)";
    }
    connection_limits_.idle_timeout = std::chrono::milliseconds(*ms);
    return true;
  }

  kj::MainBuilder::Validity set_max_calls(kj::StringPtr arg) {
    auto n = parse_count(arg);
    if (!n || *n < 16 || *n > 1'000'000) {
      return "--max-calls-in-flight must be a number from 16 to 1000000";
    }
    connection_limits_.max_calls_in_flight = *n;
    return true;
  }

  kj::MainBuilder::Validity set_in_flight_budget(kj::StringPtr arg) {
    auto bytes = parse_size_bytes(arg.cStr());
    if (!bytes || *bytes > (1ull << 40)) {
      return "--in-flight-budget must be a size such as 64MiB or 1GiB";
    }
    in_flight_budget_ = *bytes;
    return true;
  }

  kj::MainBuilder::Validity set_read_timeout(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms > 3'600'000) {
      return "--read-timeout wants a duration up to 1h, such as 20s (0: never)";
    }
    connection_limits_.read_timeout = std::chrono::milliseconds(*ms);
    return true;
  }

  // The in-flight budget: --in-flight-budget, or its default; either way
  // large enough that no request a client may send is refused.
  std::uint64_t in_flight_budget(std::size_t loops) {
    const std::uint64_t largest_request =
        std::max<std::uint64_t>(limits::kMaxBatchBytes,
                                limits_.max_key_bytes + limits_.max_value_bytes) +
        InFlightBudget::kRequestSlack;
    if (!in_flight_budget_) {
      return InFlightBudget::default_limit(limits_.memory_bytes, largest_request, loops);
    }
    const std::uint64_t least = InFlightBudget::minimum_limit(largest_request, loops);
    if (*in_flight_budget_ < least) {
      context_.exitError(kj::str("discache-node: --in-flight-budget ",
                                 format_size(*in_flight_budget_).c_str(),
                                 " cannot hold the largest request this node accepts (",
                                 largest_request, " bytes with --max-value-bytes ",
                                 limits_.max_value_bytes,
                                 loops > 1 ? ", counted twice with several --threads" : "",
                                 "); give at least ", least, " bytes"));
    }
    return *in_flight_budget_;
  }

  // Each connection is a file descriptor: lift the soft limit as far as the
  // hard one allows, and cap connections to what fits.
  void raise_open_file_limit(std::size_t loops) {
    struct rlimit limit {};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
      getrlimit(RLIMIT_NOFILE, &limit);
    }
    // Headroom: the binary's own files, and each loop's epoll, eventfd,
    // signalfd and listening socket.
    const std::uint64_t reserved = 64 + 8 * loops;
    const std::uint64_t usable = limit.rlim_cur > reserved ? limit.rlim_cur - reserved : 1;
    if (max_connections_ > usable) {
      std::cerr << "discache-node: open-file limit " << limit.rlim_cur << " allows "
                << usable << " connections; --max-connections lowered to that" << std::endl;
      max_connections_ = usable;
    }
  }

  kj::MainBuilder::Validity set_cookie_file(kj::StringPtr arg) {
    cookie_file_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_insecure() {
    insecure_ = true;
    return true;
  }

  static bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
  }

  kj::MainBuilder::Validity run() {
    auto cookie = load_cookie(cookie_file_);
    if (!cookie) {
      context_.exitError(kj::str("discache-node: ", cookie.error().message.c_str()));
    }
    cookie_ = std::move(*cookie);
    auto tls = tls_flags_.load();
    if (!tls) {
      context_.exitError(kj::str("discache-node: ", tls.error().message.c_str()));
    }
    // Safe default: a node reachable from other hosts must check who calls.
    if (cookie_.empty() && !insecure_ && !is_loopback(listen_.host)) {
      context_.exitError(kj::str(
          "discache-node: refusing to listen on ", listen_.to_string().c_str(),
          " without a cookie: give --cookie-file PATH (or set $DISCACHE_COOKIE), or --insecure "
          "to accept anyone who can reach this address"));
    }
    if (timing_.suspect_after >= timing_.dead_after) {
      context_.exitError("--suspect-after must be shorter than --dead-after");
    }
    if (timing_.probe_interval * 2 > timing_.suspect_after) {
      context_.exitError("--suspect-after must be at least two probe intervals");
    }
    // RSS stays near --memory: large message buffers go back when freed.
    release_large_buffers_when_freed();
    // Signals are captured before any thread exists, as KJ requires.
    kj::UnixEventPort::captureSignal(SIGTERM);
    kj::UnixEventPort::captureSignal(SIGINT);
    if (!discover_.empty() && (listen_.host == "0.0.0.0" || listen_.host == "::")) {
      context_.exitError(
          "--discover announces the listen address: give --listen a specific address");
    }
    const std::size_t loops = loop_count();
    const std::uint64_t in_flight_budget_bytes = in_flight_budget(loops);
    auto sockets = open_listen_sockets(listen_, loops);
    if (!sockets) {
      context_.exitError(kj::str("discache-node: ", sockets.error().message.c_str()));
    }
    auto io = kj::setupAsyncIo();
    auto& network = io.provider->getNetwork();
    auto listener = io.lowLevelProvider->wrapListenSocketFd(
        sockets->fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    Endpoint bound = listen_;
    bound.port = sockets->port;
    const std::string name = name_.empty() ? bound.to_string() : name_;

    auto log_change = [name](const std::string& what) {
      std::cerr << "discache-node[" << name << "]: " << what << std::endl;
    };
    NodeContext ctx(Member{name, bound.to_string(), MemberState::alive, incarnation_now(), 0,
                           discache::node::new_boot_id()},
                    replicas_, limits_, log_change, loops);
    // Tools and tests read the address from this line: keep its form.
    std::cerr << "discache-node[" << name << "]: listening on " << bound.to_string() << std::endl;
    std::cerr << "discache-node[" << name << "]: " << loops << (loops == 1 ? " thread" : " threads")
              << ", memory " << format_size(limits_.memory_bytes) << ", eviction "
              << to_string(limits_.eviction) << ", largest item "
              << ctx.store.shard(0).max_item_bytes() << " bytes, in-flight budget "
              << format_size(in_flight_budget_bytes) << std::endl;
    ctx.coalesce = coalesce_;
    ctx.cookie = cookie_;
    ctx.heal.tombstone_expiry.set_lifetime_ms(
        static_cast<std::uint64_t>(tombstone_lifetime_.count()));
    if (*tls) {
      ctx.tls = &(*tls)->server;  // each loop makes its own TlsServer from it
    }
    raise_open_file_limit(loops);
    ctx.max_connections = max_connections_;
    ctx.connection_limits = connection_limits_;
    ctx.forget_after_stall = forget_after_stall_;
    ctx.name_free_after = timing_.suspect_after;
    ctx.in_flight_budget->set_limit(in_flight_budget_bytes, loops);
    NodeLoop main_loop(ctx, 0, io.provider->getTimer(), sockets->fds[0]);
    std::optional<WorkerLoops> workers;
    try {
      workers.emplace(ctx, std::vector<int>(sockets->fds.begin() + 1, sockets->fds.end()));
    } catch (const std::exception& e) {
      context_.exitError(kj::str("discache-node: cannot start its threads: ", e.what()));
    }

    // Loop 0's client context for its peers (kj::TlsContext stays on its thread).
    kj::Own<TlsClient> tls_client;
    if (*tls) {
      tls_client = kj::heap<TlsClient>((*tls)->peers);
      std::cerr << "discache-node[" << name << "]: TLS: serving only TLS, checking peers "
                << "against --tls-ca" << std::endl;
    }
    PeerLinks peers(network, name, cookie_, tls_client.get());
    GossipLoop gossip(ctx, peers, io.provider->getTimer(), seeds_, timing_);
    // Discovery runs on its own Asio thread and hands addresses over here.
    CrossThreadQueue<Endpoint> discovered;
    std::unique_ptr<Discovery> discovery;
    if (!discover_.empty()) {
      discovery = std::make_unique<Discovery>(
          discover_, Discovery::Self{cluster_, name, bound, cookie_},
          [&discovered](Endpoint found) { discovered.push(std::move(found)); });
    }
    // After a heal, every node learns of it within about one probe interval
    // of the others (each gossips with every peer every interval), so their
    // handoffs start within that of ours: four intervals cover that skew on
    // a busy machine, plus the rebalancer's 100 ms settling delay.
    const auto heal_grace = to_kj(4 * timing_.probe_interval) + 100 * kj::MILLISECONDS;
    Rebalancer rebalancer(main_loop, peers, io.provider->getTimer(), to_kj(unowned_grace_),
                          heal_grace);
    if (!seeds_.empty() || !discover_.empty()) {
      // Started with an empty store, to be filled by peers: a reader must
      // not get a copy that a lagging writer's later write will not reach.
      rebalancer.joining_with_empty_store();
    }
    AntiEntropy anti_entropy(main_loop, peers, io.provider->getTimer(),
                             to_kj(anti_entropy_interval_));
    ctx.on_membership_change = [&rebalancer, &main_loop]() {
      rebalancer.membership_changed();
      main_loop.broadcast_members();
    };
    main_loop.broadcast_members();
    auto drain_requested = kj::newPromiseAndFulfiller<void>();
    ctx.request_drain = [&fulfiller = *drain_requested.fulfiller]() {
      fulfiller.fulfill();  // a second request is a no-op
    };
    auto name_taken = kj::newPromiseAndFulfiller<kj::String>();
    ctx.on_name_taken = [&fulfiller = *name_taken.fulfiller](const std::string& why) {
      fulfiller.fulfill(kj::str(why.c_str()));  // later calls are no-ops
    };

    auto& port = io.unixEventPort;
    bool loop_failed = false;
    bool name_lost = false;
    auto stop = port.onSignal(SIGTERM)
                    .exclusiveJoin(port.onSignal(SIGINT))
                    .then([](siginfo_t info) { return kj::str("signal ", info.si_signo); })
                    .exclusiveJoin(drain_requested.promise.then(
                        []() { return kj::str("discache-ctl drain"); }))
                    .exclusiveJoin(workers->failed().then([&loop_failed](kj::String what) {
                      loop_failed = true;
                      return kj::str("a failed event loop (", what, ")");
                    }))
                    .exclusiveJoin(name_taken.promise.then([&name_lost](kj::String why) {
                      name_lost = true;
                      return kj::mv(why);
                    }));
    // The node keeps serving while it drains, so `work` runs on its own.
    auto work = serve(*listener, main_loop)
                    .exclusiveJoin(gossip.run())
                    .exclusiveJoin(run_expiry_sweeper(main_loop.shard(), io.provider->getTimer(),
                                                      SweepSchedule{}, &node_now_ms))
                    .exclusiveJoin(join_discovered(discovered, gossip))
                    .exclusiveJoin(anti_entropy_interval_.count() > 0
                                       ? anti_entropy.run()
                                       : kj::Promise<void>(kj::NEVER_DONE))
                    .eagerlyEvaluate([](kj::Exception&& e) {
                      KJ_LOG(ERROR, "node stopped serving", e.getDescription());
                    });
    const auto why = stop.wait(io.waitScope);
    discovery.reset();  // joins the Asio thread; it only ever pushed to the queue
    if (name_lost) {
      // The name is another node's: announcing `leaving` or `left` under it
      // would take that node out of every ring, and handing keys over would
      // treat it as gone. Leave quietly.
      std::cerr << "discache-node[" << name << "]: " << why.cStr() << std::endl;
      workers->stop().wait(io.waitScope);
      ctx.on_membership_change = nullptr;
      ctx.request_drain = nullptr;
      ctx.on_name_taken = nullptr;
      context_.exitError(kj::str("discache-node: not serving under the name ", name.c_str(),
                                 ": it belongs to another live node"));
    }
    std::cerr << "discache-node[" << name << "]: leaving on " << why.cStr()
              << ": handing keys to their new owners" << std::endl;
    // Clients and peers take us out of the ring at once (we stay reachable
    // as a previous owner); then every key goes to its new owners; then we
    // are `left` and exit.
    // A second SIGTERM or SIGINT cuts the handoff short.
    auto impatient =
        port.onSignal(SIGTERM).exclusiveJoin(port.onSignal(SIGINT)).then([&name](siginfo_t) {
          std::cerr << "discache-node[" << name
                    << "]: second signal: leaving without finishing the handoff" << std::endl;
        });
    gossip.announce_self(MemberState::leaving)
        .then([&]() { return rebalancer.drain(to_kj(drain_timeout_)); })
        .then([&]() { return gossip.announce_self(MemberState::left); })
        .exclusiveJoin(kj::mv(impatient))
        .wait(io.waitScope);
    // Loop 0 keeps running while the workers wind down: one may be cancelling
    // a job it gave loop 0.
    workers->stop().wait(io.waitScope);
    ctx.on_membership_change = nullptr;  // its captures die before ctx
    ctx.request_drain = nullptr;
    ctx.on_name_taken = nullptr;
    std::cerr << "discache-node[" << name << "]: left the cluster" << std::endl;
    if (loop_failed) {
      context_.exitError(kj::str("discache-node: left the cluster after ", why));
    }
    return true;
  }

  static kj::Promise<void> join_discovered(CrossThreadQueue<Endpoint>& queue, GossipLoop& gossip) {
    return queue.pop_all().then([&queue, &gossip](std::vector<Endpoint> found) {
      for (auto& endpoint : found) {
        gossip.add_seed(std::move(endpoint));
      }
      return join_discovered(queue, gossip);
    });
  }

  kj::MainBuilder::Validity add_discover(kj::StringPtr arg) {
    auto spec = parse_discovery(arg.cStr());
    if (!spec) {
      return kj::str(spec.error().message.c_str());
    }
    discover_.push_back(*spec);
    return true;
  }

  kj::MainBuilder::Validity set_cluster(kj::StringPtr arg) {
    if (arg.size() == 0 || arg.size() > 64 ||
        std::string_view(arg.cStr()).find_first_of(" \t\n") != std::string_view::npos) {
      return "--cluster must be 1 to 64 characters without spaces";
    }
    cluster_ = arg.cStr();
    return true;
  }

  // Incarnations must grow across restarts of a node with the same name.
  static std::uint64_t incarnation_now() { return node_now_ms(); }

  kj::ProcessContext& context_;
  Endpoint listen_{"127.0.0.1", 7400};
  std::vector<Endpoint> seeds_;
  std::string name_;
  std::uint32_t replicas_ = 2;
  static constexpr std::size_t kMaxThreads = 64;
  static constexpr std::uint64_t kMinShardBytes = 1ull << 20;
  // An item's header and padding, rounded up (arena_block.h has the layout).
  static constexpr std::uint64_t kItemHeaderAllowance = 64;
  std::size_t threads_ = 0;  // 0: one per core
  FailureTiming timing_;
  std::vector<DiscoverySpec> discover_;
  std::chrono::milliseconds drain_timeout_{30000};
  std::chrono::milliseconds unowned_grace_{60000};
  std::chrono::milliseconds forget_after_stall_{1000};
  std::chrono::milliseconds anti_entropy_interval_{30000};  // 0: off
  std::chrono::milliseconds tombstone_lifetime_{TombstoneExpiry::kDefaultLifetimeMs};
  bool coalesce_ = true;
  std::optional<std::string> cookie_file_;
  std::string cookie_;
  bool insecure_ = false;
  TlsFlags tls_flags_;
  std::uint64_t max_connections_ = 10000;
  ConnectionLimits connection_limits_;
  std::optional<std::uint64_t> in_flight_budget_;  // --in-flight-budget; unset: the default
  std::string cluster_ = "discache";
  StoreLimits limits_{limits::kDefaultMaxKeyBytes, limits::kDefaultMaxValueBytes};
};

}  // namespace
}  // namespace discache::node

DISCACHE_MAIN(discache::node::NodeMain)
