#include "local_cluster.h"

#include <sstream>

#include "wait_until.h"

namespace discache::testing {

std::expected<MemberList, Error> member_list_of(const std::string& address, ClientOptions base) {
  ClientOptions options = std::move(base);
  options.seeds = {address};
  options.client_name = "integration-harness";
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.deadline = std::chrono::milliseconds(1000);
  // Read once at connect; a refresh would ask another member.
  options.refresh_interval = std::chrono::hours(1);
  auto client = Client::connect(options);
  if (!client) {
    return std::unexpected(client.error());
  }
  return client->members();
}

std::expected<LocalCluster, std::string> LocalCluster::start(ClusterOptions options) {
  const std::size_t count = options.nodes;
  LocalCluster cluster(std::move(options));
  for (std::size_t i = 0; i < count; ++i) {
    auto node = cluster.launch(cluster.options_.node_args);
    if (!node) {
      return std::unexpected(node.error() + "\n" + cluster.logs());
    }
  }
  if (cluster.options_.await_convergence) {
    if (auto ok = cluster.wait_converged(cluster.options_.converge_timeout); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return cluster;
}

std::expected<NodeProcess*, std::string> LocalCluster::launch(std::vector<std::string> extra_args) {
  NodeConfig config;
  config.name = options_.name_prefix + "-" + std::to_string(nodes_.size());
  if (!nodes_.empty()) {
    config.seeds = {seed_address()};
  }
  if (options_.replicas != 0) {
    config.extra_args = {"--replicas", std::to_string(options_.replicas)};
  }
  config.extra_args.insert(config.extra_args.end(), extra_args.begin(), extra_args.end());
  nodes_.push_back(std::make_unique<NodeProcess>(std::move(config)));
  if (auto started = nodes_.back()->start(); !started) {
    return std::unexpected(started.error());
  }
  return nodes_.back().get();
}

std::expected<NodeProcess*, std::string> LocalCluster::add_node(std::vector<std::string> extra_args) {
  auto node = launch(std::move(extra_args));
  if (!node || !options_.await_convergence) {
    return node;
  }
  if (auto ok = wait_converged(options_.converge_timeout); !ok) {
    return std::unexpected(ok.error());
  }
  return node;
}

NodeProcess* LocalCluster::find(std::string_view name) {
  for (auto& node : nodes_) {
    if (node->name() == name) {
      return node.get();
    }
  }
  return nullptr;
}

std::vector<std::string> LocalCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) {
    out.push_back(node->address());
  }
  return out;
}

bool LocalCluster::converged() {
  std::vector<NodeProcess*> running;
  for (auto& node : nodes_) {
    if (node->running()) {
      running.push_back(node.get());
    }
  }
  for (auto* viewer : running) {
    auto list = member_list_of(viewer->address(), options_.harness_client);
    if (!list) {
      return false;
    }
    for (auto* expected : running) {
      bool listed = false;
      for (const auto& m : list->members) {
        listed = listed || (m.name == expected->name() && m.address == expected->address() &&
                            m.state == MemberState::alive);
      }
      if (!listed) {
        return false;
      }
    }
  }
  return !running.empty();
}

std::string LocalCluster::describe_views() {
  std::ostringstream out;
  for (auto& node : nodes_) {
    out << node->name() << " (" << node->address() << ")";
    if (!node->running()) {
      out << " is not running\n";
      continue;
    }
    auto list = member_list_of(node->address(), options_.harness_client);
    if (!list) {
      out << " did not answer: " << list.error().describe() << "\n";
      continue;
    }
    out << " sees epoch " << list->epoch << ":";
    for (const auto& m : list->members) {
      out << " " << m.name << "@" << m.address << "=" << to_string(m.state);
    }
    out << "\n";
  }
  return out.str();
}

std::expected<void, std::string> LocalCluster::wait_converged(std::chrono::milliseconds timeout) {
  if (wait_until([this]() { return converged(); }, timeout)) {
    return {};
  }
  return std::unexpected("the member lists did not converge within " +
                         std::to_string(timeout.count()) + " ms:\n" + describe_views() + logs());
}

std::expected<Client, Error> LocalCluster::connect_client(ClientOptions options) const {
  options.seeds = {seed_address()};
  return Client::connect(std::move(options));
}

std::string LocalCluster::logs() const {
  std::string out;
  for (const auto& node : nodes_) {
    out += "===== " + node->name() + " (" + node->address() + ") stderr =====\n" + node->log();
  }
  return out;
}

}  // namespace discache::testing
