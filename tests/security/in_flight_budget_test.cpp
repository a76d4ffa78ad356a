// The node's in-flight budget (--in-flight-budget) and read timeout
// (--read-timeout), hit by hostile peers over loopback (issue 15): floods of
// large batches and of gets for large values, messages larger than the
// budget, and senders that trickle bytes. The node's RSS stays within the
// bound docs/design.md states ("The in-flight budget"), a normal client
// keeps being served, and the node says in its log what it did.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "local_cluster.h"
#include "raw_rpc.h"
#include "sanitizer_build.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1ull << 20;
// docs/design.md, "The in-flight budget": RSS <= --memory + the budget +
// kFixedMargin + kPerConnection for each open connection.
constexpr std::uint64_t kFixedMargin = 24 * kMiB;
constexpr std::uint64_t kPerConnection = 96 * 1024;

std::uint64_t bound(std::uint64_t memory, std::uint64_t budget, std::uint64_t connections) {
  return memory + budget + kFixedMargin + connections * kPerConnection;
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// A raw connection that has logged in and then sends one large message over
// and over (each followed by its Finish), under a new question id each time,
// reading and dropping what the node answers. Non-blocking: a poll loop
// drives many of them from one thread.
class Flooder {
 public:
  // `finish`: false sends no Finish (the node then sends every answer; with
  // a Finish right behind the call it may drop the answer unsent).
  Flooder(int fd, const std::string& message, std::size_t id_offset, bool finish = true)
      : fd_(fd), message_(message), id_offset_(id_offset), finish_calls_(finish) {
    start_next();
  }
  ~Flooder() {
    if (fd_ >= 0) {
      // Gone at once, unsent bytes and all (a reset), as a killed client
      // is: otherwise the kernel keeps sending them after close().
      const linger abort{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
      close(fd_);
    }
  }
  int fd() const { return fd_; }
  bool open() const { return !closed_; }
  std::uint64_t messages_sent() const { return sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  const std::string& received() const { return received_; }
  void keep_what_arrives() { keep_ = true; }

  // Sends what the socket takes now; false once the node closed it.
  bool send_some() {
    while (!closed_) {
      std::string_view piece;
      if (pos_ < head_.size()) {
        piece = std::string_view(head_).substr(pos_);
      } else if (pos_ < message_.size()) {
        piece = std::string_view(message_).substr(pos_);
      } else {
        piece = std::string_view(finish_).substr(pos_ - message_.size());
      }
      const ssize_t n = send(fd_, piece.data(), piece.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return true;
      }
      if (n <= 0) {
        closed_ = true;
        break;
      }
      pos_ += static_cast<std::size_t>(n);
      if (pos_ == message_.size() + finish_.size()) {
        ++sent_;
        if (once_) {
          done_sending_ = true;
          return true;
        }
        start_next();
      }
    }
    return false;
  }
  void read_some() {
    char sink[65536];
    while (true) {
      const ssize_t n = recv(fd_, sink, sizeof(sink), 0);
      if (n > 0) {
        bytes_received_ += static_cast<std::uint64_t>(n);
        if (keep_ && received_.size() < (1u << 20)) {
          received_.append(sink, static_cast<std::size_t>(n));
        }
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        closed_ = true;
      }
      return;
    }
  }
  void send_once() { once_ = true; }
  bool done_sending() const { return done_sending_; }

 private:
  void start_next() {
    const std::uint32_t q = next_question_++;
    head_ = message_.substr(0, id_offset_ + 4);
    for (int i = 0; i < 4; ++i) {
      head_[id_offset_ + i] = static_cast<char>((q >> (8 * i)) & 0xff);
    }
    finish_ = finish_calls_ ? finish_message(q) : std::string();
    pos_ = 0;
  }

  int fd_;
  const std::string& message_;
  std::size_t id_offset_;
  bool finish_calls_;
  std::string head_;  // the message's start, with this round's question id
  std::string finish_;
  std::size_t pos_ = 0;
  std::uint32_t next_question_ = 2;
  std::uint64_t sent_ = 0;
  std::uint64_t bytes_received_ = 0;
  bool closed_ = false;
  bool once_ = false;
  bool done_sending_ = false;
  bool keep_ = false;
  std::string received_;
};

// Opens `count` logged-in flooders of `message` (built with question id
// kTemplateQuestion) to `address`; every other one sends no Finish when
// `finish_half_only`.
constexpr std::uint32_t kTemplateQuestion = 0x5a5a5a5a;
std::vector<std::unique_ptr<Flooder>> open_flooders(const std::string& address, std::size_t count,
                                                    const std::string& message,
                                                    bool finish_half_only = false) {
  const std::size_t offset = question_offset(message, kTemplateQuestion);
  REQUIRE(offset != std::string::npos);
  std::vector<std::unique_ptr<Flooder>> flooders;
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = connect_raw(address);
    REQUIRE(fd >= 0);
    REQUIRE(write_all(fd, bootstrap_message(0) + login_message(1, 0, "")));
    set_nonblocking(fd);
    flooders.push_back(
        std::make_unique<Flooder>(fd, message, offset, !finish_half_only || i % 2 == 0));
  }
  return flooders;
}

// Drives `flooders` until `until` (or until none is left sending), sampling
// the node's RSS; returns the highest RSS seen.
std::uint64_t drive(std::vector<std::unique_ptr<Flooder>>& flooders, pid_t node, Deadline until) {
  std::uint64_t peak = 0;
  auto next_sample = Clock::now();
  std::vector<pollfd> polls;
  while (Clock::now() < until) {
    polls.clear();
    for (auto& f : flooders) {
      if (f->open()) {
        const short events = f->done_sending() ? POLLIN : (POLLIN | POLLOUT);
        polls.push_back(pollfd{f->fd(), events, 0});
      }
    }
    if (polls.empty()) {
      break;
    }
    poll(polls.data(), polls.size(), 10);
    std::size_t p = 0;
    for (auto& f : flooders) {
      if (!f->open()) {
        continue;
      }
      const short revents = polls[p++].revents;
      if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        f->read_some();
      }
      if (f->open() && !f->done_sending() && (revents & POLLOUT) != 0) {
        f->send_some();
      }
    }
    if (Clock::now() >= next_sample) {
      peak = std::max(peak, rss_bytes(node));
      next_sample = Clock::now() + 20ms;
    }
  }
  return std::max(peak, rss_bytes(node));
}

// One figure of the node's stats; nullopt if it did not answer in time (it
// may be busy with what a flood left in its sockets).
std::optional<std::uint64_t> stat_of(LocalCluster& cluster, std::uint64_t NodeStats::*field) {
  auto client = cluster.connect_client();
  if (!client) {
    return std::nullopt;
  }
  auto stats = client->stats();
  if (stats.size() != 1 || stats[0].error) {
    return std::nullopt;
  }
  return stats[0].*field;
}

// What a stats call itself holds of the budget while the node answers it.
constexpr std::uint64_t kIdleInFlight = 4096;

TEST_CASE("200 connections flooding 8 MiB batches: RSS within the bound, others still served") {
  constexpr std::uint64_t kMemory = 64 * kMiB;
  constexpr std::uint64_t kBudget = 32 * kMiB;  // the default for --memory 64MiB
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  // A sender that vanishes mid-frame without the node seeing it (a reset
  // lost under loopback's memory pressure) holds its frame's charge until
  // --read-timeout: shortened here so the drain below is quick.
  options.node_args = {"--memory", "64MiB", "--read-timeout", "5s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  NodeProcess& node = cluster->node(0);
  const pid_t pid = *node.pid();
  REQUIRE(stat_of(*cluster, &NodeStats::in_flight_budget) == kBudget);
  {
    // Fill the arena first, so the bound is tested with --memory in use
    // (the flood itself overwrites the same few keys).
    auto filler = cluster->connect_client();
    REQUIRE_MESSAGE(filler, filler.error().describe());
    const std::string value(512 * 1024, 'f');
    for (int i = 0; i < 192; ++i) {
      REQUIRE(filler->put("fill-" + std::to_string(i), value));
    }
  }

  // The client library's largest call: 8 MiB of values in one batch.
  const std::string batch =
      batch_put_message(kTemplateQuestion, 1, "flood-", 8, 1024 * 1024 - 1024);
  auto flooders = open_flooders(node.address(), 200, batch);

  // A normal client on the side, one op at a time, for as long as the flood.
  std::atomic<bool> flooding{true};
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::string first_failure;
  std::thread normal([&]() {
    auto client = cluster->connect_client();
    if (!client) {
      first_failure = client.error().describe();
      failed = 1;
      return;
    }
    for (int i = 0; flooding.load() && i < 100'000; ++i) {
      const std::string key = "normal-" + std::to_string(i % 500);
      auto put = client->put(key, "value-" + std::to_string(i));
      auto got = client->get(key);
      // The flood churns the whole arena: a key may be evicted between its
      // put and its get, and a cache may say so. That op was served.
      const bool got_answer = got.has_value() || got.error().is(Errc::not_found);
      for (bool good : {put.has_value(), got_answer}) {
        if (good) {
          ++ok;
        } else if (failed++ == 0) {
          first_failure = put ? got.error().describe() : put.error().describe();
        }
      }
    }
  });
  const std::uint64_t peak = drive(flooders, pid, deadline_in(10s));
  flooding = false;
  normal.join();

  std::uint64_t batches = 0;
  for (auto& f : flooders) {
    batches += f->messages_sent();
  }
  MESSAGE("flood: ", batches, " batches of 8 MiB sent by 200 connections in 10 s; node peak RSS ",
          peak / kMiB, " MiB (bound ", bound(kMemory, kBudget, 201) / kMiB,
          " MiB); normal client ", ok, " ops ok, ", failed, " failed");
  if (failed > 0) {
    MESSAGE("first failure of the normal client: ", first_failure);
  }
  CHECK(batches > 0);
  // Every flooder is still connected: it is paused, not punished.
  CHECK(std::all_of(flooders.begin(), flooders.end(), [](auto& f) { return f->open(); }));
  CHECK(ok + failed > 0);
  CHECK(ok * 100 >= (ok + failed) * 99);
  CHECK(log_has(node, "in-flight budget full"));
  CHECK(stat_of(*cluster, &NodeStats::read_pauses).value_or(0) > 0);
  if (!kUnderAddressSanitizer) {  // ASan's quarantine and shadow are not ours to bound
    CHECK(peak <= bound(kMemory, kBudget, 201));
  }

  // After the flood: the budget drains and RSS comes back within the bound
  // for a node with a few connections; a client is served as before.
  flooders.clear();
  std::optional<std::uint64_t> in_flight_after;
  const bool drained = wait_until(
      [&]() {
        in_flight_after = stat_of(*cluster, &NodeStats::in_flight_bytes);
        return in_flight_after.value_or(~0ull) <= kIdleInFlight;
      },
      15s);
  CHECK_MESSAGE(drained, "in flight after the flood: ",
                in_flight_after ? std::to_string(*in_flight_after) : "no answer");
  if (!kUnderAddressSanitizer) {
    CHECK_MESSAGE(wait_until([&]() { return rss_bytes(pid) <= bound(kMemory, 0, 8); }, 10s),
                  "RSS after the flood ", rss_bytes(pid) / kMiB, " MiB");
  }
  {
    auto client = cluster->connect_client();
    REQUIRE_MESSAGE(client, client.error().describe());
    for (int i = 0; i < 100; ++i) {
      REQUIRE(client->put("after-" + std::to_string(i), "yes"));
      CHECK(client->get("after-" + std::to_string(i)) == "yes");
    }
  }

  // Stopped in the middle of a flood (messages and their budget still
  // held, reads waiting for room), the node exits cleanly.
  flooders = open_flooders(node.address(), 50, batch);
  drive(flooders, pid, deadline_in(1s));
  const auto stopped = node.stop(20s);
  REQUIRE(stopped.has_value());
  CHECK_MESSAGE(stopped->exited_with(0), *stopped);
}

TEST_CASE("100 connections asking for 1 GiB answers: RSS within the bound, others still served") {
  constexpr std::uint64_t kMemory = 64 * kMiB;
  constexpr std::uint64_t kBudget = 32 * kMiB;  // the default for --memory 64MiB
  constexpr std::size_t kBigKeys = 40;
  constexpr std::size_t kConnections = 100;
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  options.node_args = {"--memory", "64MiB", "--read-timeout", "5s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  NodeProcess& node = cluster->node(0);
  const pid_t pid = *node.pid();
  std::vector<std::string> big_keys;
  {
    auto filler = cluster->connect_client();
    REQUIRE_MESSAGE(filler, filler.error().describe());
    const std::string value(1024 * 1024 - 1024, 'b');
    for (std::size_t i = 0; i < kBigKeys; ++i) {
      big_keys.push_back("big-" + std::to_string(i));
      REQUIRE(filler->put(big_keys.back(), value));
    }
    // 40 MiB of values: more than one answer carries (8 MiB) and than the
    // budget holds. The client library asks again for what was deferred.
    auto got = filler->multi_get(big_keys);
    REQUIRE(got.size() == kBigKeys);
    for (auto& g : got) {
      REQUIRE_MESSAGE(g.has_value(), g.error().describe());
      CHECK(g->size() == value.size());
    }
  }

  // Each call asks for 1,024 values of 1 MiB: a 1 GiB answer if it were built.
  // Half the flooders finish each call at once (the node may then drop its
  // answer unsent), half never do (the node sends every answer).
  const std::string batch = batch_get_message(kTemplateQuestion, 1, "big-", 1024, kBigKeys);
  auto flooders = open_flooders(node.address(), kConnections, batch, true);

  std::atomic<bool> flooding{true};
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::string first_failure;
  std::thread normal([&]() {
    auto client = cluster->connect_client();
    if (!client) {
      first_failure = client.error().describe();
      failed = 1;
      return;
    }
    for (int i = 0; flooding.load() && i < 100'000; ++i) {
      const std::string key = "normal-" + std::to_string(i % 500);
      auto put = client->put(key, "value-" + std::to_string(i));
      auto got = client->get(key);
      for (bool good : {put.has_value(), got.has_value()}) {
        if (good) {
          ++ok;
        } else if (failed++ == 0) {
          first_failure = put ? got.error().describe() : put.error().describe();
        }
      }
    }
  });
  const std::uint64_t peak = drive(flooders, pid, deadline_in(8s));
  flooding = false;
  normal.join();

  std::uint64_t calls = 0;
  std::uint64_t received = 0;
  for (auto& f : flooders) {
    calls += f->messages_sent();
    received += f->bytes_received();
  }
  MESSAGE("get flood: ", calls, " batches of 1,024 gets of 1 MiB values sent by ", kConnections,
          " connections in 8 s, ", received / kMiB, " MiB of answers read; node peak RSS ",
          peak / kMiB, " MiB (bound ", bound(kMemory, kBudget, kConnections + 2) / kMiB,
          " MiB); normal client ", ok, " ops ok, ", failed, " failed");
  if (failed > 0) {
    MESSAGE("first failure of the normal client: ", first_failure);
  }
  MESSAGE("in-flight peak ", stat_of(*cluster, &NodeStats::in_flight_peak).value_or(0) / kMiB,
          " MiB");
  CHECK(calls > 0);
  CHECK(received > 0);
  CHECK(std::all_of(flooders.begin(), flooders.end(), [](auto& f) { return f->open(); }));
  CHECK(ok + failed > 0);
  CHECK(ok * 100 >= (ok + failed) * 99);
  if (!kUnderAddressSanitizer) {
    CHECK(peak <= bound(kMemory, kBudget, kConnections + 2));
  }

  // After the flood the budget drains, and every big value is served again.
  flooders.clear();
  std::optional<std::uint64_t> in_flight_after;
  const bool drained = wait_until(
      [&]() {
        in_flight_after = stat_of(*cluster, &NodeStats::in_flight_bytes);
        return in_flight_after.value_or(~0ull) <= kIdleInFlight;
      },
      10s);
  CHECK_MESSAGE(drained, "in flight after the flood: ",
                in_flight_after ? std::to_string(*in_flight_after) : "no answer");
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  auto got = client->multi_get(big_keys);
  REQUIRE(got.size() == kBigKeys);
  for (auto& g : got) {
    CHECK_MESSAGE(g.has_value(), g.error().describe());
  }
}

TEST_CASE("20 connections sending 60 MiB messages: refused with a reason, or served in the bound") {
  constexpr std::uint64_t kMemory = 64 * kMiB;
  // 60 puts of (almost) 1 MiB in one batch: 60 MiB, under Cap'n Proto's
  // 64 MiB limit, over what the client library ever sends.
  const std::string batch =
      batch_put_message(kTemplateQuestion, 1, "huge-", 60, 1024 * 1024 - 1024);

  SUBCASE("default budget (32 MiB): each is refused with an Abort that says why") {
    ClusterOptions options;
    options.nodes = 1;
    options.replicas = 1;
    options.node_args = {"--memory", "64MiB"};
    auto cluster = LocalCluster::start(options);
    REQUIRE_MESSAGE(cluster, cluster.error());
    INFO(cluster->logs());
    NodeProcess& node = cluster->node(0);
    auto flooders = open_flooders(node.address(), 20, batch);
    for (auto& f : flooders) {
      f->send_once();
      f->keep_what_arrives();
    }
    const std::uint64_t peak = drive(flooders, *node.pid(), deadline_in(15s));
    MESSAGE("60 MiB refused: node peak RSS ", peak / kMiB, " MiB");
    for (auto& f : flooders) {
      CHECK_FALSE(f->open());
      const std::string reason = abort_reason(f->received());
      CHECK_MESSAGE(reason.find("larger than this node's in-flight budget") != std::string::npos,
                    "the node said: '", reason, "'");
    }
    CHECK(wait_until([&]() { return log_has(node, "can ever hold"); }, 5s));
    CHECK(stat_of(*cluster, &NodeStats::refused_frames) == 20u);
    if (!kUnderAddressSanitizer) {
      CHECK(peak <= bound(kMemory, 32 * kMiB, 21));
    }
  }
  SUBCASE("a 160 MiB budget: all are served, a few at a time") {
    constexpr std::uint64_t kBudget = 160 * kMiB;
    ClusterOptions options;
    options.nodes = 1;
    options.replicas = 1;
    options.node_args = {"--memory", "64MiB", "--in-flight-budget", "160MiB"};
    auto cluster = LocalCluster::start(options);
    REQUIRE_MESSAGE(cluster, cluster.error());
    INFO(cluster->logs());
    NodeProcess& node = cluster->node(0);
    const std::uint64_t puts_before = stat_of(*cluster, &NodeStats::puts).value_or(0);
    auto flooders = open_flooders(node.address(), 20, batch);
    for (auto& f : flooders) {
      f->send_once();
    }
    std::uint64_t peak = 0;
    const bool all_served = wait_until(
        [&]() {
          peak = std::max(peak, drive(flooders, *node.pid(), deadline_in(200ms)));
          return stat_of(*cluster, &NodeStats::puts).value_or(0) - puts_before >= 20 * 60;
        },
        25s);
    MESSAGE("60 MiB served: node peak RSS ", peak / kMiB, " MiB (bound ",
            bound(kMemory, kBudget, 21) / kMiB, " MiB)");
    CHECK(all_served);
    CHECK(std::all_of(flooders.begin(), flooders.end(), [](auto& f) { return f->open(); }));
    if (!kUnderAddressSanitizer) {
      CHECK(peak <= bound(kMemory, kBudget, 21));
    }
  }
}

TEST_CASE("1,000 connections trickling a byte a second are closed by --read-timeout") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  // The idle timeout stays at its default (5 minutes): it is not what closes them.
  options.node_args = {"--read-timeout", "2s"};
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  NodeProcess& node = cluster->node(0);
  const pid_t pid = *node.pid();
  const std::uint64_t rss_before = rss_bytes(pid);

  // A frame's first word announces one segment of 16 words; its bytes come
  // one a second.
  const char header[8] = {0, 0, 0, 0, 16, 0, 0, 0};
  struct Slow {
    int fd;
    Clock::time_point first_byte;
    std::optional<Clock::duration> closed_after;
  };
  std::vector<Slow> slow;
  for (int i = 0; i < 1000; ++i) {
    const int fd = connect_raw(node.address());
    REQUIRE(fd >= 0);
    set_nonblocking(fd);
    REQUIRE(send(fd, header, 1, MSG_NOSIGNAL) == 1);
    slow.push_back(Slow{fd, Clock::now(), std::nullopt});
  }
  std::uint64_t peak = 0;
  std::size_t sent_bytes = 1;
  auto next_byte = Clock::now() + 1s;
  const auto until = deadline_in(10s);
  std::size_t open = slow.size();
  while (open > 0 && Clock::now() < until) {
    std::vector<pollfd> polls;
    for (auto& s : slow) {
      polls.push_back(pollfd{s.fd, static_cast<short>(s.closed_after ? 0 : POLLIN), 0});
    }
    poll(polls.data(), polls.size(), 20);
    peak = std::max(peak, rss_bytes(pid));
    const bool trickle = Clock::now() >= next_byte;
    for (std::size_t i = 0; i < slow.size(); ++i) {
      Slow& s = slow[i];
      if (s.closed_after) {
        continue;
      }
      if ((polls[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char sink[4096];
        const ssize_t n = recv(s.fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          s.closed_after = Clock::now() - s.first_byte;
          --open;
          continue;
        }
      }
      if (trickle) {
        const char byte = sent_bytes < sizeof(header) ? header[sent_bytes] : 'x';
        send(s.fd, &byte, 1, MSG_NOSIGNAL);
      }
    }
    if (trickle) {
      ++sent_bytes;
      next_byte += 1s;
    }
  }
  Clock::duration earliest = Clock::duration::max();
  Clock::duration latest{};
  for (auto& s : slow) {
    if (s.closed_after) {
      earliest = std::min(earliest, *s.closed_after);
      latest = std::max(latest, *s.closed_after);
    }
    close(s.fd);
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  MESSAGE("slowloris: ", slow.size() - open, " of 1000 closed, ", ms(earliest), " to ",
          ms(latest), " ms after their first byte; node RSS ", rss_before / kMiB, " -> peak ",
          peak / kMiB, " MiB");
  CHECK(open == 0);
  // The stated bound: --read-timeout after the first byte; the node's own
  // event-loop delays come on top (1 s of slack here).
  CHECK(ms(earliest) >= 1900);
  CHECK(ms(latest) <= 3000);
  CHECK(log_has(node, "(--read-timeout)"));
  CHECK_FALSE(log_has(node, "(--idle-timeout)"));
  if (!kUnderAddressSanitizer) {
    CHECK(peak <= bound(64 * kMiB, 32 * kMiB, 1000));
  }
}

}  // namespace
}  // namespace discache::testing
