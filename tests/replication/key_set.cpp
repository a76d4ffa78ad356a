#include "key_set.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

namespace discache::testing {

std::vector<std::string> make_keys(std::size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    keys.push_back("key-" + std::to_string(i));
  }
  return keys;
}

std::string value_of(const std::string& key) { return "value of " + key; }

std::vector<std::string> chunk_of(const std::vector<std::string>& keys, std::size_t start) {
  const auto end = std::min(keys.size(), start + kChunk);
  return {keys.begin() + static_cast<std::ptrdiff_t>(start),
          keys.begin() + static_cast<std::ptrdiff_t>(end)};
}

void put_all(Client& client, const std::vector<std::string>& keys) {
  for (std::size_t start = 0; start < keys.size(); start += kChunk) {
    std::vector<KeyValue> items;
    for (const auto& key : chunk_of(keys, start)) {
      items.push_back({key, value_of(key)});
    }
    auto results = client.multi_put(items);
    for (std::size_t i = 0; i < results.size(); ++i) {
      REQUIRE_MESSAGE(results[i], "put ", items[i].key, ": ", results[i].error().describe());
    }
  }
}

std::string unreadable_keys(Client& client, const std::vector<std::string>& keys) {
  std::size_t bad = 0;
  std::string report;
  for (std::size_t start = 0; start < keys.size(); start += kChunk) {
    const auto chunk = chunk_of(keys, start);
    auto results = client.multi_get(chunk);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      if (results[i] && *results[i] == value_of(chunk[i])) {
        continue;
      }
      if (++bad <= 10) {
        report += chunk[i] + ": " +
                  (results[i] ? "wrong value " + *results[i] : results[i].error().describe()) +
                  "\n";
      }
    }
  }
  if (bad > 10) {
    report += "... " + std::to_string(bad) + " keys in all\n";
  }
  return report;
}

std::uint64_t stored_copies(Client& client) {
  std::uint64_t items = 0;
  for (const auto& node : client.stats()) {
    items += node.error ? 0 : node.items;
  }
  return items;
}

std::vector<bool> held_by(const std::string& address, const std::vector<std::string>& keys) {
  ClientOptions options;
  options.seeds = {address};
  options.direct = true;
  auto node = Client::connect(options);
  REQUIRE_MESSAGE(node, address, ": ", node.error().describe());
  std::vector<bool> held;
  for (std::size_t start = 0; start < keys.size(); start += kChunk) {
    const auto chunk = chunk_of(keys, start);
    auto results = node->multi_get(chunk);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      held.push_back(results[i] && *results[i] == value_of(chunk[i]));
    }
  }
  return held;
}

std::string missing_copies(Client& client, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<bool>> held;  // node name -> per key
  for (const auto& m : client.members().members) {
    if (m.state == MemberState::alive) {
      held[m.name] = held_by(m.address, keys);
    }
  }
  std::size_t missing = 0;
  std::string report;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const auto& owner : client.owners(keys[i])) {
      auto it = held.find(owner.name);
      if (it != held.end() && it->second[i]) {
        continue;
      }
      if (++missing <= 10) {
        report += keys[i] + " is not on its owner " + owner.name + "\n";
      }
    }
  }
  if (missing > 10) {
    report += "... " + std::to_string(missing) + " copies missing in all\n";
  }
  return report;
}

}  // namespace discache::testing
