// One client process for the ordering tests, run under faketime to give it
// a wall clock of its own: one put, delete or get, its outcome as the exit
// code, so a test can tell "acknowledged" from "refused" across processes.
//
//   ordering-client --seed ADDR [--acks N] [--direct] put KEY VALUE
//   ordering-client --seed ADDR [--acks N] [--direct] add KEY VALUE   (put_if_absent)
//   ordering-client --seed ADDR [--acks N] [--direct] del KEY
//   ordering-client --seed ADDR [--direct] get KEY
//
// Exit codes: 0 done (get prints the value on stdout), 1 not found (get) or
// exists (add), 2 any error (described on stderr), 3 bad usage.
#include <cstdio>
#include <cstdlib>
#include <discache/client.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "ordering-client: %s\nusage: ordering-client --seed ADDR [--acks N] [--direct] "
               "put KEY VALUE | add KEY VALUE | del KEY | get KEY\n",
               why);
  return 3;
}

int failed(const discache::Error& error) {
  std::fprintf(stderr, "%s\n", error.describe().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  discache::ClientOptions options;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--seed" && i + 1 < argc) {
      options.seeds.push_back(argv[++i]);
    } else if (arg == "--acks" && i + 1 < argc) {
      options.write_acks = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--direct") {
      options.direct = true;
    } else {
      words.emplace_back(arg);
    }
  }
  if (options.seeds.empty() || words.size() < 2) {
    return usage("a seed, a command and a key are required");
  }
  auto client = discache::Client::connect(options);
  if (!client) {
    return failed(client.error());
  }
  const std::string& command = words[0];
  const std::string& key = words[1];
  if (command == "put" && words.size() == 3) {
    auto done = client->put(key, words[2]);
    return done ? 0 : failed(done.error());
  }
  if (command == "add" && words.size() == 3) {
    auto done = client->put_if_absent(key, words[2]);
    if (!done) {
      return done.error().is(discache::Errc::exists) ? 1 : failed(done.error());
    }
    return 0;
  }
  if (command == "del" && words.size() == 2) {
    auto done = client->del(key);
    return done ? 0 : failed(done.error());
  }
  if (command == "get" && words.size() == 2) {
    auto item = client->get_item(key);
    if (!item) {
      return item.error().is(discache::Errc::not_found) ? 1 : failed(item.error());
    }
    std::fwrite(item->value.data(), 1, item->value.size(), stdout);
    return 0;
  }
  return usage("unknown command or wrong number of arguments");
}
