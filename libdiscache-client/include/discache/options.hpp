// Everything a Client can be configured with, in one place.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace discache {

struct ClientOptions {
  // host:port of nodes to learn the member list from, tried in order.
  std::vector<std::string> seeds{"127.0.0.1:7400"};
  // Each operation fails with Errc::timeout after this long.
  std::chrono::milliseconds deadline{2000};
  // Connecting to one node (a seed or an owner) gives up after this long.
  std::chrono::milliseconds connect_timeout{1000};
  // Nodes push member-list changes to the client; as a fallback the list is
  // also re-read this often.
  std::chrono::milliseconds refresh_interval{1000};
  // After a node's connection breaks, its operations fail fast with
  // unavailable for this long, unless the member list shows it restarted.
  std::chrono::milliseconds down_retry{1000};
  // Talk to the first seed only, as if it were the whole cluster
  // (discache-ctl --node, for inspecting one node).
  bool direct = false;
  // Shown in node logs.
  std::string client_name = "discache-client";
  // Largest key and value the client sends; bigger ones fail with
  // Errc::too_large before anything leaves the process.
  std::size_t max_key_bytes = 1024;
  std::size_t max_value_bytes = 1024 * 1024;
};

// How a put behaves.
struct PutOptions {
  // 0: the item never expires (it may still be evicted).
  std::chrono::milliseconds ttl{0};
};

}  // namespace discache
