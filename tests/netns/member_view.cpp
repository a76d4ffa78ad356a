// discache-member-view: prints ONE node's own member list, for the netns
// shell tests. discache-ctl may fetch the list from any member it knows; this
// asks exactly the node given and nothing else.
//
// Output, one member per line, sorted by name:
//   NAME STATE INCARNATION ADDRESS
// Exit 0 on success, 2 when the node cannot be reached or answers with an
// error within the deadline (the reason goes to stderr).
#include <kj/async-io.h>
#include <kj/debug.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "cookie.h"
#include "endpoint.h"
#include "member_wire.h"
#include "node_connection.h"

namespace {

constexpr char kUsage[] =
    "Usage: discache-member-view HOST:PORT [TIMEOUT_MS]\n"
    "Prints the member list of that one node: NAME STATE INCARNATION ADDRESS.\n";

constexpr int kErrorExit = 2;
constexpr unsigned kDefaultTimeoutMs = 2000;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || std::string_view(argv[1]) == "--help") {
    std::fputs(kUsage, argc < 2 || argc > 3 ? stderr : stdout);
    return argc == 2 ? 0 : kErrorExit;
  }
  // The nodes under test run with the cluster's cookie in $DISCACHE_COOKIE.
  auto loaded = discache::load_cookie(std::nullopt);
  if (!loaded) {
    std::fprintf(stderr, "discache-member-view: %s\n", loaded.error().message.c_str());
    return 2;
  }
  const std::string cookie = *loaded;
  const auto endpoint = discache::parse_endpoint(argv[1]);
  if (!endpoint) {
    std::fprintf(stderr, "discache-member-view: %s\n", endpoint.error().message.c_str());
    return kErrorExit;
  }
  unsigned timeout_ms = kDefaultTimeoutMs;
  if (argc == 3) {
    const std::string_view text = argv[2];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), timeout_ms);
    if (ec != std::errc{} || end != text.data() + text.size() || timeout_ms == 0) {
      std::fprintf(stderr, "discache-member-view: TIMEOUT_MS must be a positive number\n");
      return kErrorExit;
    }
  }

  auto io = kj::setupAsyncIo();
  discache::MemberList list;
  KJ_IF_MAYBE (error, kj::runCatchingExceptions([&]() {
                 auto request =
                     discache::NodeConnection::connect(io.provider->getNetwork(), *endpoint, cookie,
                                                       "discache-member-view")
                         .then([&list](kj::Own<discache::NodeConnection> connection) {
                           return connection->node()
                               .membersRequest()
                               .send()
                               .then([&list](capnp::Response<discache::wire::Node::MembersResults>
                                                 response) {
                                 list = discache::read_member_list(response.getList());
                               })
                               .attach(kj::mv(connection));
                         });
                 io.provider->getTimer()
                     .timeoutAfter(timeout_ms * kj::MILLISECONDS, kj::mv(request))
                     .wait(io.waitScope);
               })) {
    std::fprintf(stderr, "discache-member-view: %s: %s\n", argv[1], error->getDescription().cStr());
    return kErrorExit;
  }

  std::sort(list.members.begin(), list.members.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& member : list.members) {
    std::printf("%s %s %llu %s\n", member.name.c_str(),
                std::string(discache::to_string(member.state)).c_str(),
                static_cast<unsigned long long>(member.incarnation), member.address.c_str());
  }
  return 0;
}
