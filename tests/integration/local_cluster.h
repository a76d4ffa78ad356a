// A cluster of real discache-node processes on 127.0.0.1 for one test.
#pragma once

#include <discache/client.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "node_process.h"

namespace discache::testing {

struct ClusterOptions {
  std::size_t nodes = 3;
  // Nodes are named "<prefix>-0", "<prefix>-1", ...; node 0 is everyone's seed.
  std::string name_prefix = "node";
  // --replicas for every node; 0 leaves the node's default.
  std::uint32_t replicas = 0;
  // Extra flags for every node, e.g. {"--max-value-bytes", "4096"}.
  std::vector<std::string> node_args;
  // The harness's own clients (convergence checks) start from these, e.g.
  // tls_ca_file for a TLS cluster; seeds and the other fields it needs are
  // set over them.
  ClientOptions harness_client{};
  // Whether start() and add_node() wait for the member lists to agree, and how long.
  bool await_convergence = true;
  std::chrono::milliseconds converge_timeout = std::chrono::seconds(20);
};

// Owns its nodes: destroying the cluster SIGKILLs every node still running,
// so a failing test leaves no process behind.
//
// Threads: one thread (the test's) owns the cluster and its nodes.
class LocalCluster {
 public:
  // Starts node 0, then the others with --seed node 0, and (unless told not
  // to) waits until every node lists every node as alive. The message says
  // which step failed, with the node logs.
  static std::expected<LocalCluster, std::string> start(ClusterOptions options = {});

  LocalCluster(LocalCluster&&) noexcept = default;
  LocalCluster& operator=(LocalCluster&&) noexcept = default;
  ~LocalCluster() = default;

  std::size_t size() const { return nodes_.size(); }
  NodeProcess& node(std::size_t index) { return *nodes_.at(index); }
  // The node named `name`, or nullptr.
  NodeProcess* find(std::string_view name);
  // Node 0's address, the seed every other node joined through.
  std::string seed_address() const { return nodes_.front()->address(); }
  std::vector<std::string> addresses() const;

  // Starts one more node, joined through node 0, and waits for convergence
  // (if the options say so).
  std::expected<NodeProcess*, std::string> add_node(std::vector<std::string> extra_args = {});

  // True when every running node lists every running node as alive at its
  // address. A node that was SIGKILLed may still be listed as alive by the
  // others: that alone does not count against convergence.
  bool converged();
  // Polls converged() until it holds or `timeout` passes; the error describes
  // every running node's view.
  std::expected<void, std::string> wait_converged(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // A Client seeded with node 0 only; `options.seeds` is replaced.
  std::expected<Client, Error> connect_client(ClientOptions options = {}) const;

  // Every node's stderr so far, one labelled section per node.
  std::string logs() const;

 private:
  explicit LocalCluster(ClusterOptions options) : options_(std::move(options)) {}
  std::expected<NodeProcess*, std::string> launch(std::vector<std::string> extra_args);
  std::string describe_views();

  ClusterOptions options_;
  // unique_ptr: NodeProcess references stay valid while nodes are added.
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

// The member list that the node at `address` serves right now, read by a
// short-lived Client seeded with that node alone, made from `base`.
std::expected<MemberList, Error> member_list_of(const std::string& address,
                                                ClientOptions base = {});

}  // namespace discache::testing
