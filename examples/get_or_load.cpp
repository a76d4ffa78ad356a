// get_or_load: on a miss, one load per key however many callers ask at once.
// Usage: get_or_load [SEED]   (default 127.0.0.1:7400). Exits 0 only if all worked.
#include <discache/client.hpp>

#include <atomic>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  const std::string seed = argc > 1 ? argv[1] : "127.0.0.1:7400";
  auto client = discache::Client::connect({.seeds = {seed}});
  if (!client) {
    std::cerr << "cannot connect: " << client.error().describe() << "\n";
    return 1;
  }
  const std::string key = "report:" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::atomic<int> loads{0};
  auto expensive_load = [&](std::string_view) -> discache::GetResult {
    ++loads;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the slow origin
    return "computed once";
  };
  std::atomic<int> good{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 32; ++i) {
    callers.emplace_back([&] {
      auto value = client->get_or_load(key, expensive_load, {.ttl = std::chrono::seconds(60)});
      if (value == "computed once") {
        ++good;
      }
    });
  }
  for (auto& t : callers) {
    t.join();
  }
  std::cout << "32 callers, " << loads << " load(s), " << good << " got the value\n";
  // Later callers hit the cache.
  auto later = client->get_or_load(key, expensive_load);
  client->del(key);
  return loads == 1 && good == 32 && later == "computed once" ? 0 : 1;
}
