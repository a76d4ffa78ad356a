// A client process for thaw_test.cpp: while one owner is frozen, overwrites
// every key, waits past its deadline (the frozen owner is then marked down
// and skipped), overwrites every key again and deletes every third, then
// exits, so the hints it kept for the frozen owner die with it.
//
//   thaw-writer SEED[,SEED...] KEY_COUNT
//
// Key i is "key-<i>"; the values are "v2 of key-<i>", then "v3 of key-<i>".
// Exits 0 when every write succeeded, 1 otherwise (with the reason on stderr).
#include <discache/client.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    parts.push_back(part);
  }
  return parts;
}

bool put_all(discache::Client& client, const std::vector<std::string>& keys,
             const std::string& prefix) {
  std::vector<discache::KeyValue> items;
  for (const auto& key : keys) {
    items.push_back({key, prefix + " of " + key});
  }
  auto results = client.multi_put(items);
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i]) {
      std::fprintf(stderr, "thaw-writer: put %s: %s\n", items[i].key.c_str(),
                   results[i].error().describe().c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: thaw-writer SEED[,SEED...] KEY_COUNT\n");
    return 2;
  }
  discache::ClientOptions options;
  options.seeds = split(argv[1]);
  options.client_name = "thaw-writer";
  auto client = discache::Client::connect(options);
  if (!client) {
    std::fprintf(stderr, "thaw-writer: %s\n", client.error().describe().c_str());
    return 1;
  }
  std::vector<std::string> keys;
  for (long i = 0; i < std::atol(argv[2]); ++i) {
    keys.push_back("key-" + std::to_string(i));
  }
  if (!put_all(*client, keys, "v2")) {
    return 1;
  }
  // The frozen owner's copies of v2 time out: from now on this client
  // skips it (and keeps hints for it, which die with this process).
  std::this_thread::sleep_for(options.deadline + std::chrono::milliseconds(300));
  if (!put_all(*client, keys, "v3")) {
    return 1;
  }
  std::vector<std::string> doomed;
  for (std::size_t i = 0; i < keys.size(); i += 3) {
    doomed.push_back(keys[i]);
  }
  auto deleted = client->multi_delete(doomed);
  for (std::size_t i = 0; i < deleted.size(); ++i) {
    if (!deleted[i]) {
      std::fprintf(stderr, "thaw-writer: delete %s: %s\n", doomed[i].c_str(),
                   deleted[i].error().describe().c_str());
      return 1;
    }
  }
  std::printf("overwrote %zu keys twice, deleted %zu\n", keys.size(), doomed.size());
  return 0;
}
