// memcached-bench: the same load as discache-bench (same flags, keys, values
// and report), sent to a memcached server over its text protocol, pipelined:
// each thread owns one TCP connection and keeps --in-flight requests
// outstanding on it. With --in-flight 1 (or --blocking) it is one get at a
// time, as a blocking client would do. See docs/benchmarks.md.
#include <kj/main.h>
#include <libmemcached/memcached.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exit_code_context.h"
#include "key_chooser.h"
#include "load_shape.h"
#include "run_report.h"
#include "server_process.h"

namespace discache::bench {
namespace {

constexpr const char* kVersion = "memcached-bench 0.1.0";

struct ServerAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 11211;
};

// One blocking TCP connection to memcached with a receive buffer that the
// response parser consumes. One thread.
class TextConnection {
 public:
  explicit TextConnection(const ServerAddress& address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      throw std::runtime_error(std::string("socket: ") + strerror(errno));
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    if (inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr) != 1) {
      throw std::runtime_error("--server wants an IPv4 address, not " + address.host);
    }
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      throw std::runtime_error("cannot connect to " + address.host + ":" +
                               std::to_string(address.port) + ": " + strerror(errno));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  TextConnection(const TextConnection&) = delete;
  TextConnection& operator=(const TextConnection&) = delete;
  ~TextConnection() { close(fd_); }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("send: ") + strerror(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Appends what arrives (blocking until something does) to the buffer.
  void receive() {
    if (at_ > 0 && at_ * 2 > in_.size()) {
      in_.erase(0, at_);
      at_ = 0;
    }
    char chunk[64 * 1024];
    while (true) {
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        in_.append(chunk, static_cast<std::size_t>(n));
        return;
      }
      if (n == 0) {
        throw std::runtime_error("memcached closed the connection");
      }
      if (errno != EINTR) {
        throw std::runtime_error(std::string("recv: ") + strerror(errno));
      }
    }
  }
  std::string_view unread() const { return std::string_view(in_).substr(at_); }
  void consume(std::size_t n) { at_ += n; }

 private:
  int fd_ = -1;
  std::string in_;
  std::size_t at_ = 0;
};

// The key index back from a key name ("k" + 15 digits); nullopt if not ours.
std::optional<std::uint64_t> key_index(std::string_view key) {
  if (key.size() != kKeyBytes || key[0] != 'k') {
    return std::nullopt;
  }
  std::uint64_t index = 0;
  auto [p, ec] = std::from_chars(key.data() + 1, key.data() + key.size(), index);
  if (ec != std::errc{} || p != key.data() + key.size()) {
    return std::nullopt;
  }
  return index;
}

// What one response said.
struct Answer {
  bool complete = false;
  std::size_t bytes = 0;  // consumed when complete
  std::uint64_t hits = 0;
  std::uint64_t wrong = 0;  // values that were not what we stored
  std::string error;        // ERROR / CLIENT_ERROR / SERVER_ERROR line
};

// Parses one get response (VALUE blocks, then END) from the front of `in`.
Answer parse_get(std::string_view in, std::size_t value_size) {
  Answer a;
  std::size_t at = 0;
  while (true) {
    const auto eol = in.find("\r\n", at);
    if (eol == std::string_view::npos) {
      return a;  // incomplete
    }
    const auto line = in.substr(at, eol - at);
    if (line == "END") {
      a.complete = true;
      a.bytes = eol + 2;
      return a;
    }
    if (line.rfind("VALUE ", 0) != 0) {
      a.complete = true;
      a.bytes = eol + 2;
      a.error = std::string(line);
      return a;
    }
    // VALUE <key> <flags> <bytes>
    const auto key_end = line.find(' ', 6);
    const auto flags_end = key_end == std::string_view::npos ? key_end : line.find(' ', key_end + 1);
    std::size_t length = 0;
    if (flags_end != std::string_view::npos) {
      std::from_chars(line.data() + flags_end + 1, line.data() + line.size(), length);
    }
    if (in.size() < eol + 2 + length + 2) {
      return a;  // the value is not all here yet
    }
    const auto value = in.substr(eol + 2, length);
    const auto index = key_index(line.substr(6, key_end - 6));
    if (index && value_matches(*index, value, value_size)) {
      ++a.hits;
    } else {
      ++a.wrong;
    }
    at = eol + 2 + length + 2;
  }
}

// Parses one set response ("STORED").
Answer parse_set(std::string_view in) {
  Answer a;
  const auto eol = in.find("\r\n");
  if (eol == std::string_view::npos) {
    return a;
  }
  a.complete = true;
  a.bytes = eol + 2;
  if (in.substr(0, eol) != "STORED") {
    a.error = std::string(in.substr(0, eol));
  }
  return a;
}

struct Shared {
  const LoadShape& shape;
  const ServerAddress& address;
  const ZipfTable* zipf;
  RunWindow window;
  LiveCounters& live;
};

// One load thread: its connection, --in-flight requests pipelined on it.
ThreadTotals run_thread(const Shared& shared, unsigned index) {
  const auto& shape = shared.shape;
  ThreadTotals totals;
  KeyChooser chooser(shape.keys, shared.zipf, shape.random_seed * 1000003 + index);
  TextConnection connection(shared.address);
  struct Pending {
    Clock::time_point start;
    bool get;
    std::size_t keys;
  };
  std::deque<Pending> pending;
  std::string out;
  std::string value(shape.value_size, '\0');
  char key[kKeyBytes];

  auto add_request = [&](Clock::time_point now) {
    if (!chooser.chance(shape.get_percent)) {
      const std::uint64_t k = chooser.next_key();
      write_key_name(k, key);
      fill_value(k, value.data(), value.size());
      out += "set ";
      out.append(key, kKeyBytes);
      out += " 0 0 " + std::to_string(value.size()) + "\r\n";
      out += value;
      out += "\r\n";
      pending.push_back(Pending{now, false, 1});
      return;
    }
    out += "get";
    for (std::size_t i = 0; i < shape.multiget; ++i) {
      write_key_name(chooser.next_key(), key);
      out += ' ';
      out.append(key, kKeyBytes);
    }
    out += "\r\n";
    pending.push_back(Pending{now, true, shape.multiget});
  };

  const unsigned depth = shape.blocking ? 1 : shape.in_flight;
  const auto begin = Clock::now();
  for (unsigned i = 0; i < depth; ++i) {
    add_request(begin);
  }
  while (!pending.empty()) {
    if (!out.empty()) {
      connection.send_all(out);
      out.clear();
    }
    connection.receive();
    while (!pending.empty()) {
      const auto& front = pending.front();
      const Answer a = front.get ? parse_get(connection.unread(), shape.value_size)
                                 : parse_set(connection.unread());
      if (!a.complete) {
        break;
      }
      connection.consume(a.bytes);
      const auto now = Clock::now();
      if (shared.window.counts(now)) {
        totals.latency.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - front.start).count()));
        ++totals.ops;
        totals.keys += front.keys;
        bool failed = false;
        if (!a.error.empty()) {
          totals.error(a.error);
          failed = true;
        } else if (front.get) {
          totals.hits += a.hits;
          totals.misses += front.keys - a.hits - a.wrong;
          if (a.wrong > 0) {
            totals.error("get: " + std::to_string(a.wrong) + " wrong values");
            failed = true;
          }
        }
        shared.live.add(index, 1, failed ? 1 : 0);
      }
      pending.pop_front();
      if (!shared.window.over(now)) {
        add_request(now);
      }
    }
  }
  return totals;
}

// One load thread with --libmemcached: one blocking call at a time through
// libmemcached (what the blocking-get target compares against).
ThreadTotals run_thread_libmemcached(const Shared& shared, unsigned index) {
  const auto& shape = shared.shape;
  ThreadTotals totals;
  KeyChooser chooser(shape.keys, shared.zipf, shape.random_seed * 1000003 + index);
  memcached_st* memc = memcached_create(nullptr);
  if (memc == nullptr) {
    throw std::runtime_error("memcached_create failed");
  }
  struct Free {
    memcached_st* m;
    ~Free() { memcached_free(m); }
  } free_memc{memc};
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  if (memcached_server_add(memc, shared.address.host.c_str(), shared.address.port) !=
      MEMCACHED_SUCCESS) {
    throw std::runtime_error("memcached_server_add failed");
  }
  char key[kKeyBytes];
  std::string value(shape.value_size, '\0');
  while (true) {
    const auto start = Clock::now();
    if (shared.window.over(start)) {
      break;
    }
    std::uint64_t hits = 0, misses = 0, errors = 0;
    std::string error;
    if (!chooser.chance(shape.get_percent)) {
      const std::uint64_t k = chooser.next_key();
      write_key_name(k, key);
      fill_value(k, value.data(), value.size());
      const auto rc = memcached_set(memc, key, kKeyBytes, value.data(), value.size(), 0, 0);
      if (rc != MEMCACHED_SUCCESS) {
        ++errors;
        error = std::string("set: ") + memcached_strerror(memc, rc);
      }
    } else {
      for (std::size_t i = 0; i < shape.multiget; ++i) {
        const std::uint64_t k = chooser.next_key();
        write_key_name(k, key);
        std::size_t length = 0;
        std::uint32_t flags = 0;
        memcached_return_t rc;
        char* got = memcached_get(memc, key, kKeyBytes, &length, &flags, &rc);
        if (got != nullptr && value_matches(k, std::string_view(got, length), shape.value_size)) {
          ++hits;
        } else if (rc == MEMCACHED_NOTFOUND) {
          ++misses;
        } else {
          ++errors;
          error = got != nullptr ? "get: wrong value" : std::string("get: ") + memcached_strerror(memc, rc);
        }
        free(got);
      }
    }
    const auto now = Clock::now();
    if (shared.window.counts(now)) {
      totals.latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count()));
      ++totals.ops;
      totals.keys += shape.multiget;
      totals.hits += hits;
      totals.misses += misses;
      if (errors > 0) {
        totals.error(error);
      }
      shared.live.add(index, 1, errors > 0 ? 1 : 0);
    }
  }
  return totals;
}

// Stores every key with pipelined "set ... noreply", then one "version" round
// trip per chunk so the sets are known to be done. One connection per thread.
void preload(const LoadShape& shape, const ServerAddress& address, RunResult& result) {
  std::uint64_t rss_before = 0;
  if (shape.server_pid > 0) {
    rss_before = process_rss_bytes(shape.server_pid).value_or(0);
  }
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::vector<std::string> failures(shape.threads);
  for (unsigned t = 0; t < shape.threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        TextConnection connection(address);
        constexpr std::uint64_t kChunk = 4096;
        std::string out;
        char key[kKeyBytes];
        std::string value(shape.value_size, '\0');
        const std::string header_tail = " 0 0 " + std::to_string(shape.value_size) + " noreply\r\n";
        for (std::uint64_t first = t * kChunk; first < shape.keys; first += kChunk * shape.threads) {
          out.clear();
          for (std::uint64_t k = first; k < std::min(first + kChunk, shape.keys); ++k) {
            write_key_name(k, key);
            fill_value(k, value.data(), value.size());
            out += "set ";
            out.append(key, kKeyBytes);
            out += header_tail;
            out += value;
            out += "\r\n";
          }
          out += "version\r\n";
          connection.send_all(out);
          while (connection.unread().find("\r\n") == std::string_view::npos) {
            connection.receive();
          }
          const auto line = connection.unread().substr(0, connection.unread().find("\r\n"));
          if (line.rfind("VERSION", 0) != 0) {
            failures[t] = std::string(line);  // an error line from a set
            return;
          }
          connection.consume(line.size() + 2);
        }
      } catch (const std::exception& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  result.preload_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& f : failures) {
    if (!f.empty()) {
      result.totals.error("preload: " + f);
      fprintf(stderr, "memcached-bench: preload failed: %s\n", f.c_str());
    }
  }
  if (shape.server_pid > 0) {
    result.rss_bytes_per_item = rss_per_item(shape.server_pid, rss_before, shape.keys);
  }
}

class BenchMain {
 public:
  explicit BenchMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(
        context_, kVersion,
        "Drives a memcached server with the load discache-bench generates (same flags, keys, "
        "values and report), over the text protocol: one TCP connection per thread, "
        "--in-flight requests pipelined on each. Exit code: 0 when no operation failed, 1 "
        "when some did, 2 on a usage error or when memcached cannot be reached.");
    builder
        .addOptionWithArg({"server"}, KJ_BIND_METHOD(*this, set_server), "<ipv4:port>",
                          "The memcached server (default 127.0.0.1:11211).")
        .addOption({"libmemcached"}, KJ_BIND_METHOD(*this, set_libmemcached),
                   "With --blocking: make the calls through libmemcached (memcached_get, "
                   "memcached_set; a multiget is that many gets) instead of our own driver.");
    add_load_shape_options(builder, shape_);
    return builder.callAfterParsing(KJ_BIND_METHOD(*this, run)).build();
  }

 private:
  kj::MainBuilder::Validity set_server(kj::StringPtr arg) {
    std::string_view text(arg.cStr(), arg.size());
    const auto colon = text.rfind(':');
    unsigned port = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec != std::errc{} ||
        port == 0 || port > 65535) {
      return "--server wants IPV4:PORT, e.g. 127.0.0.1:11211";
    }
    address_.host = std::string(text.substr(0, colon));
    address_.port = static_cast<std::uint16_t>(port);
    return true;
  }

  kj::MainBuilder::Validity set_libmemcached() {
    libmemcached_ = true;
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (auto why = validate(shape_); !why.empty()) {
      return kj::str(why.c_str());
    }
    if (libmemcached_ && !shape_.blocking) {
      return "--libmemcached needs --blocking (libmemcached calls block)";
    }
    int code = 0;
    try {
      code = run_load();
    } catch (const std::exception& e) {
      fprintf(stderr, "memcached-bench: %s\n", e.what());
      code = 2;
    }
    fflush(stdout);
    fflush(stderr);
    _exit(code);
  }

  int run_load() {
    { TextConnection probe(address_); }  // fail early, with exit code 2
    RunResult result;
    if (shape_.preload) {
      preload(shape_, address_, result);
    }
    if (!shape_.preload_only) {
      std::optional<ZipfTable> zipf;
      if (shape_.zipf_alpha > 0) {
        zipf.emplace(shape_.keys, shape_.zipf_alpha);
      }
      LiveCounters live(shape_.threads);
      Shared shared{shape_, address_, zipf ? &*zipf : nullptr,
                    RunWindow::after(shape_.warmup, shape_.duration), live};
      RunMonitor monitor(shape_, shared.window, live);
      std::vector<ThreadTotals> per_thread(shape_.threads);
      std::vector<std::string> failures(shape_.threads);
      std::vector<std::thread> threads;
      for (unsigned i = 0; i < shape_.threads; ++i) {
        threads.emplace_back([&, i] {
          try {
            per_thread[i] = libmemcached_ ? run_thread_libmemcached(shared, i) : run_thread(shared, i);
          } catch (const std::exception& e) {
            failures[i] = e.what();
          }
        });
      }
      for (auto& t : threads) {
        t.join();
      }
      result.server_cpu_us = monitor.finish();
      for (std::size_t i = 0; i < per_thread.size(); ++i) {
        result.totals.merge(per_thread[i]);
        if (!failures[i].empty()) {
          result.totals.error("connection: " + failures[i]);
        }
      }
      result.window_s =
          std::chrono::duration<double>(shared.window.end - shared.window.start).count();
    }
    print_report(libmemcached_ ? "memcached (libmemcached)" : "memcached", shape_, result);
    return result.totals.errors > 0 ? 1 : 0;
  }

  kj::ProcessContext& context_;
  LoadShape shape_;
  ServerAddress address_;
  bool libmemcached_ = false;
};

}  // namespace
}  // namespace discache::bench

DISCACHE_MAIN(discache::bench::BenchMain)
