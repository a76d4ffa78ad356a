// discache-heal-client: the client side of partition_heal_test.sh, run inside
// one namespace. Three commands:
//
//   fill SEED PREFIX COUNT BYTES
//     Puts COUNT keys PREFIX-0.. with values of BYTES bytes, in batches:
//     bulk for the handoffs, so they take long enough for a read to land
//     before them. Exit 1 on a failure.
//
//   write SEED FILE
//     Applies FILE's lines in order with one client: "put KEY VALUE" or
//     "del KEY", each acknowledged by every owner (write_acks 2). Exit 1 on
//     the first failure.
//
//   read SEED EXPECT_FILE SECONDS NODES
//     For SECONDS, reads every key of EXPECT_FILE ("KEY deleted" or "KEY
//     VALUE": the newest write) with a fresh client each round, as a new
//     process would. A round counts once that client's member list shows
//     NODES members serving (earlier rounds read one side of the cut, which
//     is not what is tested). Counted rounds tally values of deleted keys
//     (resurrected), values other than the newest (stale) and misses. The
//     last round must read exactly EXPECT_FILE. Exit 0 when no counted round
//     read a deleted key's value or a stale value and the last round was
//     exact; 1 otherwise; 2 on bad usage.
#include <discache/client.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRoundGap = std::chrono::milliseconds(100);
// Bad reads printed one by one; the rest are only counted.
constexpr std::size_t kMaxReported = 40;

discache::ClientOptions options_for(const std::string& seed) {
  discache::ClientOptions options;
  options.seeds = {seed};
  options.cookie = std::getenv("DISCACHE_COOKIE") ? std::getenv("DISCACHE_COOKIE") : "";
  options.client_name = "discache-heal-client";
  options.write_acks = 2;
  return options;
}

int write_cmd(const std::string& seed, const std::string& file) {
  auto client = discache::Client::connect(options_for(seed));
  if (!client) {
    std::fprintf(stderr, "write: connect %s: %s\n", seed.c_str(), client.error().message.c_str());
    return 1;
  }
  std::ifstream in(file);
  std::string line;
  std::size_t done = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string op, key, value;
    words >> op >> key >> value;
    discache::VoidResult result;
    if (op == "put") {
      result = client->put(key, value);
    } else if (op == "del") {
      result = client->del(key);
      if (!result && result.error().is(discache::Errc::not_found)) {
        result = {};
      }
    } else {
      std::fprintf(stderr, "write: bad line '%s'\n", line.c_str());
      return 2;
    }
    if (!result) {
      std::fprintf(stderr, "write: %s %s through %s failed: %s\n", op.c_str(), key.c_str(),
                   seed.c_str(), result.error().message.c_str());
      return 1;
    }
    ++done;
  }
  std::printf("wrote %zu ops through %s\n", done, seed.c_str());
  return 0;
}

int fill_cmd(const std::string& seed, const std::string& prefix, std::size_t count,
             std::size_t bytes) {
  auto client = discache::Client::connect(options_for(seed));
  if (!client) {
    std::fprintf(stderr, "fill: connect %s: %s\n", seed.c_str(), client.error().message.c_str());
    return 1;
  }
  constexpr std::size_t kBatch = 500;
  for (std::size_t first = 0; first < count; first += kBatch) {
    std::vector<discache::KeyValue> items;
    for (std::size_t i = first; i < count && i < first + kBatch; ++i) {
      items.push_back({prefix + "-" + std::to_string(i), std::string(bytes, 'f')});
    }
    for (const auto& result : client->multi_put(items)) {
      if (!result) {
        std::fprintf(stderr, "fill: a put through %s failed: %s\n", seed.c_str(),
                     result.error().message.c_str());
        return 1;
      }
    }
  }
  std::printf("filled %zu keys of %zu bytes through %s\n", count, bytes, seed.c_str());
  return 0;
}

struct Expectation {
  std::string key;
  std::optional<std::string> value;  // empty: deleted
};

// For a failure's log: who owns each key and what every node holds for it.
void describe_keys(discache::Client& client, const std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, discache::Client>> nodes;
  for (const auto& m : client.members().members) {
    auto options = options_for(m.address);
    options.direct = true;
    if (auto direct = discache::Client::connect(options)) {
      nodes.emplace_back(m.name, std::move(*direct));
    }
  }
  for (const auto& key : keys) {
    std::string line = key + ": owners";
    for (const auto& owner : client.owners(key)) {
      line += " " + owner.name;
    }
    line += "; held:";
    for (auto& [name, direct] : nodes) {
      auto item = direct.get_item(key);
      line += " " + name + "=" +
              (item ? item->value + "@" + std::to_string(item->version)
                    : std::string(discache::to_string(item.error().code)));
    }
    std::printf("  %s\n", line.c_str());
  }
}

std::size_t serving_members(discache::Client& client) {
  std::size_t n = 0;
  for (const auto& m : client.members().members) {
    if (m.state == discache::MemberState::alive || m.state == discache::MemberState::suspect) {
      ++n;
    }
  }
  return n;
}

int read_cmd(const std::string& seed, const std::string& file, double seconds,
             std::size_t nodes) {
  std::vector<Expectation> expected;
  std::vector<std::string> keys;
  {
    std::ifstream in(file);
    std::string key, value;
    while (in >> key >> value) {
      expected.push_back({key, value == "deleted" ? std::nullopt : std::optional(value)});
      keys.push_back(key);
    }
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  auto since = [&start]() {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  std::size_t rounds = 0, counted = 0, resurrected = 0, stale = 0, misses = 0, failed = 0;
  double first_counted = -1, last_bad = -1;
  bool last_exact = false;
  std::vector<std::string> last_wrong;
  while (Clock::now() < end) {
    auto client = discache::Client::connect(options_for(seed));
    ++rounds;
    if (!client) {
      std::this_thread::sleep_for(kRoundGap);
      continue;
    }
    const bool count = serving_members(*client) == nodes;
    const double at = since();
    auto results = client->multi_get(keys);
    bool exact = true;
    std::size_t round_misses = 0;
    last_wrong.clear();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& want = expected[i];
      const auto& got = results[i];
      if (!got && !got.error().is(discache::Errc::not_found)) {
        exact = false;
        last_wrong.push_back(want.key);
        if (count) {
          ++failed;
        }
        continue;
      }
      if (!want.value) {
        if (got) {
          exact = false;
          last_wrong.push_back(want.key);
          if (count) {
            ++resurrected;
            last_bad = at;
            if (resurrected + stale <= kMaxReported) {
              std::printf("+%.2fs %s: deleted, read '%s'\n", at, want.key.c_str(), got->c_str());
            }
          }
        }
        continue;
      }
      if (!got) {
        exact = false;
        last_wrong.push_back(want.key);
        ++round_misses;
        continue;
      }
      if (*got != *want.value) {
        exact = false;
        last_wrong.push_back(want.key);
        if (count) {
          ++stale;
          last_bad = at;
          if (resurrected + stale <= kMaxReported) {
            std::printf("+%.2fs %s: read '%s', newest is '%s'\n", at, want.key.c_str(),
                        got->c_str(), want.value->c_str());
          }
        }
      }
    }
    if (count) {
      if (first_counted < 0) {
        first_counted = at;
        std::printf("+%.2fs first round with %zu members serving\n", at, nodes);
      }
      ++counted;
      misses += round_misses;
    }
    last_exact = exact && count;
    if (!last_exact && Clock::now() + kRoundGap >= end) {
      std::printf("keys wrong in the last round:\n");
      describe_keys(*client, last_wrong);
    }
    std::this_thread::sleep_for(kRoundGap);
  }
  std::printf(
      "rounds %zu, counted %zu (from +%.2fs), keys %zu: resurrected %zu, stale %zu, misses %zu, "
      "failed %zu, last bad read at %+.2fs, last round %s\n",
      rounds, counted, first_counted, keys.size(), resurrected, stale, misses, failed, last_bad,
      last_exact ? "exact" : "NOT exact");
  return counted > 0 && resurrected == 0 && stale == 0 && last_exact ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "write") {
    return write_cmd(args[1], args[2]);
  }
  if (args.size() == 5 && args[0] == "fill") {
    return fill_cmd(args[1], args[2], std::strtoull(args[3].c_str(), nullptr, 10),
                    std::strtoull(args[4].c_str(), nullptr, 10));
  }
  if (args.size() == 5 && args[0] == "read") {
    return read_cmd(args[1], args[2], std::atof(args[3].c_str()),
                    static_cast<std::size_t>(std::atoi(args[4].c_str())));
  }
  std::fputs(
      "Usage: discache-heal-client fill SEED PREFIX COUNT BYTES\n"
      "       discache-heal-client write SEED FILE\n"
      "       discache-heal-client read SEED EXPECT_FILE SECONDS NODES\n",
      stderr);
  return 2;
}
