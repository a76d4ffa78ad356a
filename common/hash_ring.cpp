#include "hash_ring.h"

#include <xxhash.h>

#include <algorithm>
#include <numeric>
#include <tuple>

namespace discache {

std::uint64_t HashRing::hash_key(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

HashRing::HashRing(std::vector<std::string> node_names, std::uint32_t vnodes)
    : nodes_(std::move(node_names)), vnodes_(vnodes == 0 ? 1 : vnodes) {
  std::sort(nodes_.begin(), nodes_.end());
  nodes_.erase(std::unique(nodes_.begin(), nodes_.end()), nodes_.end());

  struct Point {
    std::uint64_t hash;
    std::uint32_t node;
  };
  std::vector<Point> points;
  points.reserve(nodes_.size() * vnodes_);
  std::string label;
  for (std::uint32_t n = 0; n < nodes_.size(); ++n) {
    for (std::uint32_t i = 0; i < vnodes_; ++i) {
      label = nodes_[n];
      label += '#';
      label += std::to_string(i);
      points.push_back({hash_key(label), n});
    }
  }
  // Ties (astronomically rare) break by node index, which follows the sorted
  // names, so the order stays deterministic across processes.
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return std::tie(a.hash, a.node) < std::tie(b.hash, b.node);
  });
  points_.reserve(points.size());
  point_node_.reserve(points.size());
  for (const auto& p : points) {
    points_.push_back(p.hash);
    point_node_.push_back(p.node);
  }
}

std::size_t HashRing::owners_from(std::uint64_t hash, std::span<std::uint32_t> out) const noexcept {
  if (points_.empty() || out.empty()) {
    return 0;
  }
  const std::size_t want = std::min(out.size(), nodes_.size());
  std::size_t i = std::lower_bound(points_.begin(), points_.end(), hash) - points_.begin();
  std::size_t found = 0;
  for (std::size_t step = 0; step < points_.size() && found < want; ++step, ++i) {
    if (i == points_.size()) {
      i = 0;
    }
    const std::uint32_t node = point_node_[i];
    bool seen = false;
    for (std::size_t k = 0; k < found; ++k) {
      if (out[k] == node) {
        seen = true;
        break;
      }
    }
    if (!seen) {
      out[found++] = node;
    }
  }
  return found;
}

std::size_t HashRing::owners(std::string_view key, std::span<std::uint32_t> out) const noexcept {
  return owners_from(hash_key(key), out);
}

std::uint32_t HashRing::owner(std::string_view key) const noexcept {
  std::uint32_t out = 0;
  owners(key, std::span<std::uint32_t>(&out, 1));
  return out;
}

std::vector<std::string> HashRing::owner_names(std::string_view key, std::size_t n) const {
  std::vector<std::uint32_t> idx(std::min(n, nodes_.size()));
  idx.resize(owners(key, idx));
  std::vector<std::string> names;
  names.reserve(idx.size());
  for (auto i : idx) {
    names.push_back(nodes_[i]);
  }
  return names;
}

std::vector<double> HashRing::shares() const {
  std::vector<double> share(nodes_.size(), 0.0);
  if (points_.empty()) {
    return share;
  }
  // The arc (previous point, this point] belongs to this point's node.
  constexpr double kSpace = 18446744073709551616.0;  // 2^64
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const std::uint64_t prev = i == 0 ? points_.back() : points_[i - 1];
    const std::uint64_t arc = points_[i] - prev;  // wraps correctly for i == 0
    share[point_node_[i]] += static_cast<double>(arc) / kSpace;
  }
  if (points_.size() == 1) {
    share[point_node_[0]] = 1.0;
  }
  return share;
}

}  // namespace discache
