// Everything a Client can be configured with, in one place.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace discache {

struct ClientOptions {
  // host:port of nodes to learn the member list from, tried in order.
  std::vector<std::string> seeds{"127.0.0.1:7400"};
  // How long one node may take to answer. A get then asks the next replica
  // and the node is marked down (ops skip it) until it answers a background
  // probe; a put counts that replica as failed. When every replica timed out
  // the op fails with Errc::timeout, so a get takes at most `replicas`
  // deadlines, and a node that stops answering costs one deadline in all.
  std::chrono::milliseconds deadline{1000};
  // Connecting to one node (a seed or an owner) gives up after this long.
  std::chrono::milliseconds connect_timeout{1000};
  // Nodes push member-list changes to the client; as a fallback the list is
  // also re-read this often.
  std::chrono::milliseconds refresh_interval{1000};
  // A node marked down (its connection broke, or it missed a deadline) is
  // skipped until a probe (one call with no deadline) gets an answer; after
  // a probe that failed (connection refused, say) the next one waits this
  // long. A new incarnation in the member list probes at once.
  std::chrono::milliseconds down_retry{500};
  // Replication factor N: copies of each key, on the first N nodes of the
  // ring. 0 uses the cluster's setting (discache-node --replicas, default 2).
  std::size_t replicas = 0;
  // W: replicas that must acknowledge a put or delete before it succeeds; the
  // rest finish in the background. Clamped to 1..N.
  std::size_t write_acks = 1;
  // On a miss from one replica, ask the next (and repair the one that missed
  // if another had the value). Off: a miss from the first live owner is final.
  bool read_fallback_on_miss = true;
  // After the ring changes (a node joins or leaves), a miss is also asked of
  // the key's previous owners for this long, and a value found there is copied
  // to the new owner: adding a node does not turn its share of keys cold.
  // Puts and deletes also go to the previous owners meanwhile (not counted
  // toward write_acks), so clients that have not learnt the new ring yet
  // do not read older values there.
  std::chrono::milliseconds transition_window{30000};
  // Talk to the first seed only, as if it were the whole cluster
  // (discache-ctl --node, for inspecting one node).
  bool direct = false;
  // The cluster's cookie (nodes started with --cookie-file or
  // $DISCACHE_COOKIE); empty: taken from $DISCACHE_COOKIE if set. A wrong or
  // missing one fails with Errc::unauthenticated.
  std::string cookie{};
  // PEM file of the CA that signed the nodes' certificates; non-empty turns
  // TLS on: every connection is encrypted and the node's certificate must be
  // signed by this CA, or the connection fails with Errc::tls before anything
  // (the cookie included) is sent. Read once, at connect: an unreadable file
  // fails connect with Errc::invalid_argument. Empty: plain TCP.
  std::string tls_ca_file{};
  // The DNS name node certificates must carry; empty: the host part of each
  // node's address. Only DNS entries of subjectAltName are checked (kj
  // 0.9.2), so nodes addressed by IP need the IP as a DNS entry too.
  std::string tls_server_name{};
  // Shown in node logs.
  std::string client_name = "discache-client";
  // Coalesce reads and writes on each connection (fewer syscalls per call);
  // false uses Cap'n Proto's own stream handling, for comparison.
  bool coalescing_transport = true;
  // Blocking get / get_item / has_key do their I/O on the calling thread
  // (a small KJ event loop and connections per thread, made on first use),
  // saving two thread wake-ups per call; cases that need read repair or
  // error handling still go through the client's I/O thread. A thread that
  // runs a KJ event loop of its own always takes the I/O thread's path.
  bool caller_thread_reads = true;
  // Largest key and value the client sends; bigger ones fail with
  // Errc::too_large before anything leaves the process.
  std::size_t max_key_bytes = 1024;
  std::size_t max_value_bytes = 1024 * 1024;
  // Keys and values that submitted, unfinished operations may hold, over the
  // whole client. An operation past it completes at once with
  // Errc::overloaded rather than waiting (a completion handler or the
  // caller's event loop must never block); retry once earlier ones are done.
  // One operation alone is always accepted, however large.
  std::uint64_t max_queued_bytes = 256ull << 20;
};

// What a put does when the key already has a value.
enum class PutMode : std::uint8_t {
  upsert,           // replace it
  if_absent,        // fail with Errc::exists (memcached's add)
  compare_and_set,  // replace it only if its version is expected_version (cas)
};

// How a put behaves.
struct PutOptions {
  // 0: the item never expires (it may still be evicted).
  std::chrono::milliseconds ttl{0};
  // Set by put_if_absent / compare_and_set; plain put uses upsert.
  PutMode mode = PutMode::upsert;
  std::uint64_t expected_version = 0;
};

}  // namespace discache
