// multi_put / multi_get / multi_delete: one request per node, results in
// input order, each with its own status.
// Usage: batch [SEED]   (default 127.0.0.1:7400). Exits 0 only if all worked.
#include <discache/client.hpp>

#include <iostream>

int main(int argc, char** argv) {
  const std::string seed = argc > 1 ? argv[1] : "127.0.0.1:7400";
  auto client = discache::Client::connect({.seeds = {seed}});
  if (!client) {
    std::cerr << "cannot connect: " << client.error().describe() << "\n";
    return 1;
  }
  std::vector<discache::KeyValue> items;
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    items.push_back({"batch:" + std::to_string(i), "value " + std::to_string(i)});
    keys.push_back(items.back().key);
  }
  for (const auto& r : client->multi_put(items)) {
    if (!r) {
      std::cerr << "multi_put: " << r.error().describe() << "\n";
      return 1;
    }
  }
  keys.push_back("batch:missing");  // a miss keeps its own status
  auto values = client->multi_get(keys);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!values[i] || *values[i] != items[i].value) {
      std::cerr << "multi_get: wrong value for " << keys[i] << "\n";
      return 1;
    }
  }
  if (values.back() || !values.back().error().is(discache::Errc::not_found)) {
    std::cerr << "multi_get: batch:missing should be not_found\n";
    return 1;
  }
  std::cout << "multi_get: " << items.size() << " values in order, 1 not_found\n";
  keys.pop_back();
  for (const auto& r : client->multi_delete(keys)) {
    if (!r) {
      std::cerr << "multi_delete: " << r.error().describe() << "\n";
      return 1;
    }
  }
  for (const auto& r : client->multi_get(keys)) {
    if (r) {
      std::cerr << "a deleted key came back\n";
      return 1;
    }
  }
  std::cout << "multi_delete: all gone\n";
  return 0;
}
