// Nothing a client sends can crash a node: it keeps serving a well-behaved
// client through garbage, truncated and oversized frames and thousands of
// idle connections, and its memory stays bounded.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "local_cluster.h"
#include "sanitizer_build.h"

namespace discache::testing {
namespace {

// A raw TCP connection to host:port; -1 on failure.
int connect_raw(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void send_and_close(const std::string& address, const std::string& bytes) {
  const int fd = connect_raw(address);
  REQUIRE(fd >= 0);
  (void)!write(fd, bytes.data(), bytes.size());
  close(fd);
}

// The well-behaved client still gets its answers.
void check_serving(Client& client, int round) {
  const std::string key = "still-serving-" + std::to_string(round);
  auto put = client.put(key, "yes");
  REQUIRE_MESSAGE(put, put.error().describe());
  auto got = client.get(key);
  REQUIRE_MESSAGE(got, got.error().describe());
  REQUIRE(*got == "yes");
}

TEST_CASE("garbage, truncated and oversized frames and 2000 idle connections do not stop a node") {
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto client = cluster->connect_client();
  REQUIRE_MESSAGE(client, client.error().describe());
  const std::string address = cluster->node(0).address();
  const pid_t pid = *cluster->node(0).pid();
  check_serving(*client, 0);
  const std::uint64_t rss_before = rss_bytes(pid);

  SUBCASE("random bytes") {
    std::mt19937 random(42);
    for (int i = 0; i < 200; ++i) {
      std::string junk(1 + random() % 4096, '\0');
      for (auto& c : junk) {
        c = static_cast<char>(random());
      }
      send_and_close(address, junk);
    }
  }
  SUBCASE("truncated frames") {
    // A segment table announcing one 1000-word segment, then only part of it.
    std::string frame(8, '\0');
    frame[4] = static_cast<char>(1000 & 0xff);
    frame[5] = static_cast<char>(1000 >> 8);
    for (std::size_t cut = 1; cut < 64; ++cut) {
      send_and_close(address, (frame + std::string(200, 'x')).substr(0, cut * 3));
    }
  }
  SUBCASE("a frame claiming a huge length") {
    // One segment of 0xFFFFFFFF words (32 GiB): must be refused, not allocated.
    std::string frame(8, '\0');
    frame[4] = frame[5] = frame[6] = frame[7] = static_cast<char>(0xff);
    for (int i = 0; i < 20; ++i) {
      send_and_close(address, frame + std::string(4096, 'y'));
    }
    // And many segments (the table itself huge).
    std::string many(8, '\0');
    many[0] = many[1] = static_cast<char>(0xff);
    send_and_close(address, many);
  }
  SUBCASE("2000 idle connections") {
    struct rlimit limit {};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    REQUIRE(limit.rlim_cur > 2100);
    std::vector<int> idle;
    for (int i = 0; i < 2000; ++i) {
      const int fd = connect_raw(address);
      REQUIRE(fd >= 0);
      idle.push_back(fd);
    }
    check_serving(*client, 1);
    auto fresh = cluster->connect_client();  // a new client still gets in
    REQUIRE_MESSAGE(fresh, fresh.error().describe());
    REQUIRE(fresh->get("still-serving-1") == "yes");
    for (int fd : idle) {
      close(fd);
    }
  }

  check_serving(*client, 2);
  CHECK(cluster->node(0).running());
  // Bounded memory: nothing above was kept (2000 connections cost some
  // kernel and KJ state while open; all are closed now).
  const std::uint64_t rss_after = rss_bytes(pid);
  INFO("RSS before ", rss_before, " after ", rss_after);
  // Under AddressSanitizer the RSS also holds ASan's quarantine of freed
  // memory and shadow memory: the bound says nothing there.
  if (!kUnderAddressSanitizer) {
    CHECK(rss_after < rss_before + 64ull * 1024 * 1024);
  }
}

}  // namespace
}  // namespace discache::testing
