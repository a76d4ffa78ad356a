// discache-ctl: the operator's tool. Ring inspection, membership, stats, and
// get/put/del/has from a shell, through the client library.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/main.h>

#include <discache/client.hpp>

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "cookie.h"
#include "ctl_output.capnp.h"
#include "duration_text.h"
#include "exit_code_context.h"

namespace discache::ctl {
namespace {

constexpr const char* kVersion = "discache-ctl 0.1.0";
constexpr int kNotFoundExit = 1;

class CtlMain {
 public:
  explicit CtlMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context_, kVersion,
                            "Operates a discache cluster: membership, ring, stats, and "
                            "get/put/del/has. Exit codes: 0 success; 1 key not found (get, has); "
                            "2 any error.");
    add_common(builder);
    return builder
        .addSubCommand("members", KJ_BIND_METHOD(*this, members_cmd),
                       "One row per node: name, address, state, incarnation, items stored.")
        .addSubCommand("ring", KJ_BIND_METHOD(*this, ring_cmd),
                       "Per node its vnodes and share of the key space; then the imbalance.")
        .addSubCommand("owners", KJ_BIND_METHOD(*this, owners_cmd),
                       "The node(s) owning KEY, in replica order.")
        .addSubCommand("drain", KJ_BIND_METHOD(*this, drain_cmd),
                       "Ask NODE (name or address) to hand its keys over and leave.")
        .addSubCommand("get", KJ_BIND_METHOD(*this, get_cmd), "Print the value of KEY.")
        .addSubCommand("put", KJ_BIND_METHOD(*this, put_cmd),
                       "Store VALUE under KEY ('-' reads the value from stdin).")
        .addSubCommand("del", KJ_BIND_METHOD(*this, del_cmd), "Delete KEY.")
        .addSubCommand("has", KJ_BIND_METHOD(*this, has_cmd), "Exit 0 if KEY has a value, 1 if not.")
        .addSubCommand("watch", KJ_BIND_METHOD(*this, watch_cmd),
                       "Print membership changes as they happen, until interrupted.")
        .addSubCommand("stats", KJ_BIND_METHOD(*this, stats_cmd),
                       "Per node: items, bytes, gets, hits, misses, puts, deletes, calls.")
        .build();
  }

 private:
  // The options every command accepts, before or after the command name.
  void add_common(kj::MainBuilder& builder) {
    builder
        .addOptionWithArg({'s', "seed"}, KJ_BIND_METHOD(*this, add_seed), "<host:port>",
                          "A node to learn the cluster from (repeatable; default "
                          "127.0.0.1:7400).")
        .addOptionWithArg({"node"}, KJ_BIND_METHOD(*this, set_node), "<host:port>",
                          "Send the command to this one node, bypassing the ring.")
        .addOption({"json"}, KJ_BIND_METHOD(*this, set_json), "Print machine-readable JSON.")
        .addOptionWithArg({"cookie-file"}, KJ_BIND_METHOD(*this, set_cookie_file), "<path>",
                          "The cluster's cookie (default: $DISCACHE_COOKIE, else none).")
        .addOptionWithArg({"tls-ca"}, KJ_BIND_METHOD(*this, set_tls_ca), "<path>",
                          "Talk TLS, trusting nodes whose certificate this CA (PEM) signed: "
                          "for nodes started with --tls-cert.")
        .addOptionWithArg({"tls-server-name"}, KJ_BIND_METHOD(*this, set_tls_server_name), "<name>",
                          "The DNS name node certificates must carry (default: the host of "
                          "each node's address).")
        .addOptionWithArg({"timeout"}, KJ_BIND_METHOD(*this, set_timeout), "<duration>",
                          "Deadline per operation, e.g. 500ms or 2s (default 2s).");
  }

  kj::MainBuilder::Validity add_seed(kj::StringPtr arg) {
    options_.seeds_given = true;
    options_.seeds.push_back(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_cookie_file(kj::StringPtr arg) {
    cookie_file_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_tls_ca(kj::StringPtr arg) {
    tls_ca_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_tls_server_name(kj::StringPtr arg) {
    tls_server_name_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_node(kj::StringPtr arg) {
    node_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_json() {
    json_ = true;
    return true;
  }
  kj::MainBuilder::Validity set_timeout(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms || *ms == 0) {
      return "--timeout wants a duration such as 500ms, 2s or 1m";
    }
    timeout_ = std::chrono::milliseconds(*ms);
    return true;
  }
  kj::MainBuilder::Validity set_ttl(kj::StringPtr arg) {
    auto ms = parse_duration_ms(arg.cStr());
    if (!ms) {
      return "--ttl wants a duration such as 30s, 500ms, 5m or 1h";
    }
    ttl_ = std::chrono::milliseconds(*ms);
    return true;
  }
  kj::MainBuilder::Validity set_key(kj::StringPtr arg) {
    key_ = std::string(arg.cStr());
    return true;
  }
  kj::MainBuilder::Validity set_value(kj::StringPtr arg) {
    value_ = std::string(arg.cStr());
    return true;
  }

  kj::MainFunc members_cmd() {
    kj::MainBuilder b(context_, kVersion, "Lists the members with their state and items stored.");
    add_common(b);
    return b.callAfterParsing(KJ_BIND_METHOD(*this, run_members)).build();
  }
  kj::MainFunc ring_cmd() {
    kj::MainBuilder b(context_, kVersion, "Shows each node's share of the key space.");
    add_common(b);
    return b.callAfterParsing(KJ_BIND_METHOD(*this, run_ring)).build();
  }
  kj::MainFunc watch_cmd() {
    kj::MainBuilder b(context_, kVersion,
                      "Prints the member list, then one line per change as nodes push them, "
                      "until interrupted (Ctrl-C).");
    add_common(b);
    return b.callAfterParsing(KJ_BIND_METHOD(*this, run_watch)).build();
  }
  kj::MainFunc stats_cmd() {
    kj::MainBuilder b(context_, kVersion, "Shows every node's counters.");
    add_common(b);
    return b.callAfterParsing(KJ_BIND_METHOD(*this, run_stats)).build();
  }
  kj::MainFunc owners_cmd() { return key_command("Shows the nodes owning KEY.", &CtlMain::run_owners); }
  kj::MainFunc drain_cmd() {
    kj::MainBuilder b(context_, kVersion,
                      "Asks NODE (its name or address) to leave gracefully: it hands every key "
                      "to its new owners, then exits. Waits until NODE has left the member list.");
    add_common(b);
    return b.expectArg("NODE", KJ_BIND_METHOD(*this, set_key))
        .callAfterParsing(KJ_BIND_METHOD(*this, run_drain))
        .build();
  }
  kj::MainFunc get_cmd() { return key_command("Prints the value of KEY.", &CtlMain::run_get); }
  kj::MainFunc del_cmd() { return key_command("Deletes KEY.", &CtlMain::run_del); }
  kj::MainFunc has_cmd() { return key_command("Exits 0 if KEY has a value, 1 if not.", &CtlMain::run_has); }
  kj::MainFunc put_cmd() {
    kj::MainBuilder b(context_, kVersion,
                      "Stores VALUE under KEY. A VALUE of '-' reads the value from stdin.");
    add_common(b);
    return b
        .addOptionWithArg({"ttl"}, KJ_BIND_METHOD(*this, set_ttl), "<duration>",
                          "Expire the value after this long, e.g. 30s.")
        .expectArg("KEY", KJ_BIND_METHOD(*this, set_key))
        .expectArg("VALUE", KJ_BIND_METHOD(*this, set_value))
        .callAfterParsing(KJ_BIND_METHOD(*this, run_put))
        .build();
  }

  using Runner = kj::MainBuilder::Validity (CtlMain::*)();
  kj::MainFunc key_command(kj::StringPtr help, Runner runner) {
    kj::MainBuilder b(context_, kVersion, help);
    add_common(b);
    return b.expectArg("KEY", KJ_BIND_METHOD(*this, set_key))
        .callAfterParsing([this, runner]() { return (this->*runner)(); })
        .build();
  }

  // --- connecting ------------------------------------------------------------

  struct Seeds {
    std::vector<std::string> seeds;
    bool seeds_given = false;
  };

  // direct: bypass the ring when --node is given (key commands).
  Client connect(bool direct) {
    ClientOptions options;
    options.client_name = "discache-ctl";
    auto cookie = load_cookie(cookie_file_);
    if (!cookie) {
      fail(cookie.error());
    }
    options.cookie = std::move(*cookie);
    options.tls_ca_file = tls_ca_;
    options.tls_server_name = tls_server_name_;
    options.deadline = timeout_;
    if (node_) {
      options.seeds = {*node_};
      options.direct = direct;
    } else if (options_.seeds_given) {
      options.seeds = options_.seeds;
    }
    auto client = Client::connect(options);
    if (!client) {
      fail(client.error());
    }
    return std::move(*client);
  }

  [[noreturn]] void fail(const Error& error) {
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<ErrorOutput>();
      out.setError(std::string(to_string(error.code)).c_str());
      out.setMessage(error.message.c_str());
      print_json(out.asReader());
    }
    context_.exitError(
        kj::str("discache-ctl: ", to_string(error.code).data(), ": ", error.message.c_str()));
    _exit(ExitCodeContext::kErrorExit);  // exitError does not return; tell the compiler
  }

  [[noreturn]] void not_found() {
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<KeyOutput>();
      out.setKey(key_.c_str());
      out.setStatus("not_found");
      print_json(out.asReader());
    }
    std::cerr << "not found" << std::endl;
    std::cout.flush();
    _exit(kNotFoundExit);
  }

  template <typename Reader>
  void print_json(Reader reader) {
    capnp::JsonCodec codec;
    codec.setPrettyPrint(true);
    std::cout << codec.encode(reader).cStr() << std::endl;
  }

  // --- commands --------------------------------------------------------------

  kj::MainBuilder::Validity run_members() {
    auto client = connect(false);
    auto list = client.members();
    auto stats = client.stats();
    auto items_of = [&](const std::string& name) -> double {
      for (const auto& s : stats) {
        if (s.name == name && !s.error) {
          return static_cast<double>(s.items);
        }
      }
      return -1;
    };
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<MembersOutput>();
      out.setEpoch(static_cast<double>(list.epoch));
      out.setReplicas(list.replicas);
      auto rows = out.initMembers(static_cast<unsigned>(list.members.size()));
      for (unsigned i = 0; i < list.members.size(); ++i) {
        const auto& m = list.members[i];
        rows[i].setName(m.name.c_str());
        rows[i].setAddress(m.address.c_str());
        rows[i].setState(std::string(to_string(m.state)).c_str());
        rows[i].setIncarnation(static_cast<double>(m.incarnation));
        rows[i].setLastHeardMsAgo(static_cast<double>(m.last_heard_ms_ago));
        rows[i].setItems(items_of(m.name));
      }
      print_json(out.asReader());
      return true;
    }
    std::cout << std::left << std::setw(24) << "NAME" << std::setw(24) << "ADDRESS" << std::setw(9)
              << "STATE" << std::setw(16) << "INCARNATION" << std::setw(12) << "LAST HEARD"
              << "ITEMS\n";
    for (const auto& m : list.members) {
      const double items = items_of(m.name);
      std::cout << std::left << std::setw(24) << m.name << std::setw(24) << m.address
                << std::setw(9) << to_string(m.state) << std::setw(16) << m.incarnation
                << std::setw(12) << (std::to_string(m.last_heard_ms_ago) + "ms ago")
                << (items < 0 ? std::string("-") : std::to_string(static_cast<std::uint64_t>(items)))
                << "\n";
    }
    std::cout << "epoch " << list.epoch << ", replicas " << list.replicas << std::endl;
    return true;
  }

  kj::MainBuilder::Validity run_ring() {
    auto client = connect(false);
    auto ring = client.ring();
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<RingOutput>();
      out.setEpoch(static_cast<double>(ring.epoch));
      out.setImbalance(ring.imbalance);
      auto rows = out.initNodes(static_cast<unsigned>(ring.nodes.size()));
      for (unsigned i = 0; i < ring.nodes.size(); ++i) {
        rows[i].setName(ring.nodes[i].name.c_str());
        rows[i].setAddress(ring.nodes[i].address.c_str());
        rows[i].setVnodes(ring.nodes[i].vnodes);
        rows[i].setShare(ring.nodes[i].share * 100.0);
      }
      print_json(out.asReader());
      return true;
    }
    std::cout << std::left << std::setw(24) << "NAME" << std::setw(24) << "ADDRESS" << std::setw(8)
              << "VNODES" << "SHARE\n";
    for (const auto& n : ring.nodes) {
      std::cout << std::left << std::setw(24) << n.name << std::setw(24) << n.address
                << std::setw(8) << n.vnodes << std::fixed << std::setprecision(2)
                << n.share * 100.0 << "%\n";
    }
    std::cout << "imbalance " << std::fixed << std::setprecision(3) << ring.imbalance
              << " (largest share / mean share), epoch " << ring.epoch << std::endl;
    return true;
  }

  kj::MainBuilder::Validity run_owners() {
    auto client = connect(false);
    auto owners = client.locate(key_);
    auto holds = [](const Replica& r) -> std::string {
      return r.holds ? (*r.holds ? "yes" : "no") : "unknown";
    };
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<OwnersOutput>();
      out.setKey(key_.c_str());
      auto rows = out.initOwners(static_cast<unsigned>(owners.size()));
      for (unsigned i = 0; i < owners.size(); ++i) {
        rows[i].setName(owners[i].member.name.c_str());
        rows[i].setAddress(owners[i].member.address.c_str());
        rows[i].setHolds(holds(owners[i]).c_str());
      }
      print_json(out.asReader());
      return true;
    }
    for (const auto& r : owners) {
      std::cout << r.member.name << " " << r.member.address << " holds=" << holds(r) << "\n";
    }
    std::cout.flush();
    return true;
  }

  kj::MainBuilder::Validity run_drain() {
    auto client = connect(false);
    if (auto asked = client.drain(key_); !asked) {
      fail(asked.error());
    }
    // Bounded wait, with progress, until the node reports `left`.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string last_state;
    for (;;) {
      std::string state = "gone";
      for (const auto& m : client.members().members) {
        if (m.name == key_ || m.address == key_) {
          state = std::string(to_string(m.state));
        }
      }
      if (state != last_state && !json_) {
        std::cerr << key_ << ": " << state << std::endl;
        last_state = state;
      }
      if (state == "left" || state == "gone" || state == "dead") {
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        fail(Error{Errc::timeout, key_ + " did not finish draining within 60 s"});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // operator-facing poll
    }
    print_ok();
    return true;
  }

  kj::MainBuilder::Validity run_get() {
    auto client = connect(true);
    auto item = client.get_item(key_);
    if (!item) {
      if (item.error().is(Errc::not_found)) {
        not_found();
      }
      fail(item.error());
    }
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<KeyOutput>();
      out.setKey(key_.c_str());
      out.setStatus("ok");
      out.setValue(capnp::Text::Reader(item->value.c_str(), item->value.size()));
      out.setVersion(static_cast<double>(item->version));
      print_json(out.asReader());
      return true;
    }
    std::cout << item->value << std::endl;
    return true;
  }

  kj::MainBuilder::Validity run_put() {
    if (value_ == "-") {
      value_.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      if (std::cin.bad()) {
        fail(Error{Errc::invalid_argument, "cannot read the value from stdin"});
      }
    }
    auto client = connect(true);
    auto done = client.put(key_, value_, PutOptions{ttl_});
    if (!done) {
      fail(done.error());
    }
    print_ok();
    return true;
  }

  kj::MainBuilder::Validity run_del() {
    auto client = connect(true);
    auto done = client.del(key_);
    if (!done) {
      fail(done.error());
    }
    print_ok();
    return true;
  }

  kj::MainBuilder::Validity run_has() {
    auto client = connect(true);
    auto found = client.has_key(key_);
    if (!found) {
      fail(found.error());
    }
    if (!*found) {
      not_found();
    }
    if (json_) {
      print_ok();
    } else {
      std::cout << "true" << std::endl;
    }
    return true;
  }

  void print_ok() {
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<KeyOutput>();
      out.setKey(key_.c_str());
      out.setStatus("ok");
      print_json(out.asReader());
    } else {
      std::cout << "ok" << std::endl;
    }
  }

  kj::MainBuilder::Validity run_watch() {
    auto client = connect(false);
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<MemberList> lists;
    client.on_members_changed([&](const MemberList& list) {
      std::lock_guard lock(mutex);
      lists.push_back(list);
      wake.notify_one();
    });
    MemberList last = client.members();
    print_watch_list(last, nullptr);
    for (;;) {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return !lists.empty(); });
      MemberList next = std::move(lists.front());
      lists.pop_front();
      lock.unlock();
      print_watch_list(next, &last);
      last = std::move(next);
    }
  }

  // One line per member that is new or changed since `before` (all when null).
  void print_watch_list(const MemberList& list, const MemberList* before) {
    for (const auto& m : list.members) {
      const Member* old = nullptr;
      if (before != nullptr) {
        for (const auto& b : before->members) {
          if (b.name == m.name) {
            old = &b;
          }
        }
        if (old != nullptr && old->state == m.state && old->incarnation == m.incarnation &&
            old->address == m.address) {
          continue;
        }
      }
      if (json_) {
        capnp::MallocMessageBuilder message;
        auto row = message.initRoot<WatchEvent>();
        row.setEpoch(static_cast<double>(list.epoch));
        row.setName(m.name.c_str());
        row.setAddress(m.address.c_str());
        row.setState(std::string(to_string(m.state)).c_str());
        row.setIncarnation(static_cast<double>(m.incarnation));
        capnp::JsonCodec codec;
        std::cout << codec.encode(row.asReader()).cStr() << std::endl;
      } else {
        std::cout << "epoch " << list.epoch << ": " << m.name << " (" << m.address << ") "
                  << to_string(m.state) << ", incarnation " << m.incarnation << std::endl;
      }
    }
  }

  kj::MainBuilder::Validity run_stats() {
    auto client = connect(false);
    auto stats = client.stats();
    bool any_error = false;
    if (json_) {
      capnp::MallocMessageBuilder message;
      auto out = message.initRoot<StatsOutput>();
      auto rows = out.initNodes(static_cast<unsigned>(stats.size()));
      for (unsigned i = 0; i < stats.size(); ++i) {
        const auto& s = stats[i];
        auto r = rows[i];
        r.setName(s.name.c_str());
        r.setAddress(s.address.c_str());
        if (s.error) {
          any_error = true;
          r.setError(s.error->describe().c_str());
        }
        r.setItems(static_cast<double>(s.items));
        r.setBytes(static_cast<double>(s.bytes));
        r.setGets(static_cast<double>(s.gets));
        r.setHits(static_cast<double>(s.hits));
        r.setMisses(static_cast<double>(s.misses));
        r.setPuts(static_cast<double>(s.puts));
        r.setDeletes(static_cast<double>(s.deletes));
        r.setCalls(static_cast<double>(s.calls));
        r.setBatchCalls(static_cast<double>(s.batch_calls));
        r.setConnections(static_cast<double>(s.connections));
        r.setUptimeMs(static_cast<double>(s.uptime_ms));
        r.setHandoffRuns(static_cast<double>(s.handoff_runs));
        r.setHandoffKeys(static_cast<double>(s.handoff_keys));
        r.setHandoffPending(s.handoff_pending);
        r.setThreads(static_cast<double>(s.threads));
        r.setCrossThreadOps(static_cast<double>(s.cross_thread_ops));
        r.setCrossThreadHops(static_cast<double>(s.cross_thread_hops));
        r.setUnownedSweeps(static_cast<double>(s.unowned_sweeps));
        r.setUnownedDropped(static_cast<double>(s.unowned_dropped));
        r.setAntiEntropyRounds(static_cast<double>(s.anti_entropy_rounds));
        r.setAntiEntropyRepaired(static_cast<double>(s.anti_entropy_repaired));
        r.setAntiEntropyBytes(static_cast<double>(s.anti_entropy_bytes));
        r.setMemoryUsed(static_cast<double>(s.memory_used));
        r.setMemoryLimit(static_cast<double>(s.memory_limit));
        r.setRssBytes(static_cast<double>(s.rss_bytes));
        r.setEvictions(static_cast<double>(s.evictions));
        r.setExpirations(static_cast<double>(s.expirations));
        r.setInFlightBudget(static_cast<double>(s.in_flight_budget));
        r.setInFlightBytes(static_cast<double>(s.in_flight_bytes));
        r.setInFlightPeak(static_cast<double>(s.in_flight_peak));
        r.setReadPauses(static_cast<double>(s.read_pauses));
        r.setRefusedFrames(static_cast<double>(s.refused_frames));
      }
      print_json(out.asReader());
    } else {
      std::cout << std::left << std::setw(24) << "NAME" << std::right << std::setw(10) << "ITEMS"
                << std::setw(12) << "BYTES" << std::setw(10) << "GETS" << std::setw(10) << "HITS"
                << std::setw(10) << "MISSES" << std::setw(10) << "PUTS" << std::setw(10)
                << "DELETES" << std::setw(10) << "CALLS" << std::setw(12) << "MEM_USED"
                << std::setw(12) << "MEM_LIMIT" << std::setw(12) << "RSS" << std::setw(11)
                << "EVICTIONS" << std::setw(9) << "EXPIRED" << std::setw(12) << "INFLIGHT"
                << std::setw(12) << "BUDGET" << std::setw(12) << "PEAK" << std::setw(10)
                << "PAUSES" << std::setw(9) << "REFUSED" << "\n";
      for (const auto& s : stats) {
        std::cout << std::left << std::setw(24) << s.name << std::right;
        if (s.error) {
          any_error = true;
          std::cout << "  " << s.error->describe() << "\n";
          continue;
        }
        std::cout << std::setw(10) << s.items << std::setw(12) << s.bytes << std::setw(10)
                  << s.gets << std::setw(10) << s.hits << std::setw(10) << s.misses
                  << std::setw(10) << s.puts << std::setw(10) << s.deletes << std::setw(10)
                  << s.calls << std::setw(12) << s.memory_used << std::setw(12)
                  << s.memory_limit << std::setw(12) << s.rss_bytes << std::setw(11)
                  << s.evictions << std::setw(9) << s.expirations << std::setw(12)
                  << s.in_flight_bytes << std::setw(12) << s.in_flight_budget << std::setw(12)
                  << s.in_flight_peak << std::setw(10) << s.read_pauses << std::setw(9)
                  << s.refused_frames << "\n";
      }
      std::cout.flush();
    }
    if (any_error) {
      context_.exitError("some nodes did not answer");
    }
    return true;
  }

  kj::ProcessContext& context_;
  Seeds options_;
  std::optional<std::string> node_;
  std::optional<std::string> cookie_file_;
  std::string tls_ca_;
  std::string tls_server_name_;
  bool json_ = false;
  std::chrono::milliseconds timeout_{2000};
  std::chrono::milliseconds ttl_{0};
  std::string key_;
  std::string value_;
};

}  // namespace
}  // namespace discache::ctl

DISCACHE_MAIN(discache::ctl::CtlMain)
