// The discache client: the consistent-hash ring and a connection to each node.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <discache/error.hpp>
#include <discache/member.hpp>
#include <discache/options.hpp>
#include <discache/stats.hpp>

namespace discache {

namespace detail {
class ClientCore;
}

// A stored value with the version the node gave it.
struct Item {
  std::string value;
  std::uint64_t version = 0;
};

// A Client learns the member list from a seed, builds the ring and sends each
// operation straight to the node that owns the key. All member functions are
// safe to call from many threads at once. Operations issued at about the same
// time to the same node leave together in one batch call.
//
// The client runs its network I/O on one private thread (a KJ event loop).
// Because KJ is used, the process ignores SIGPIPE once a Client exists, and
// SIGUSR1 is reserved.
class Client {
 public:
  // Connects to the first seed that answers and reads the member list.
  // Errors: invalid_argument (a bad seed address), no_seed (none answered).
  static std::expected<Client, Error> connect(ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  // Stops the I/O thread; operations still in flight complete with unavailable.
  ~Client();

  // The value of `key`, or Errc::not_found; other errors: unavailable,
  // timeout, too_large, invalid_argument.
  std::expected<std::string, Error> get(std::string_view key);
  // Like get(), with the item's version.
  std::expected<Item, Error> get_item(std::string_view key);
  // Stores `value` under `key` on its owner. Errors: too_large (the message
  // names the limit), invalid_argument, unavailable, timeout.
  std::expected<void, Error> put(std::string_view key, std::string_view value,
                                 PutOptions options = {});
  // Removes `key`; succeeds whether or not it was there.
  std::expected<void, Error> del(std::string_view key);
  // Whether `key` holds a live value.
  std::expected<bool, Error> has_key(std::string_view key);

  // The member list as this client knows it now (nodes push changes).
  MemberList members();
  // Calls `listener` with the new list after every change this client learns
  // of, until the Client is destroyed. It runs on the client's I/O thread: it
  // must return quickly and must not call blocking Client functions.
  void on_members_changed(std::function<void(const MemberList&)> listener);
  // The nodes that own `key`, in replica order (at most the replication factor).
  std::vector<Member> owners(std::string_view key);
  // The ring this client routes with: each node's vnodes and key-space share.
  RingInfo ring();
  // Asks every member for its counters; a node that does not answer has
  // `error` set in its entry instead.
  std::vector<NodeStats> stats();

 private:
  explicit Client(std::unique_ptr<detail::ClientCore> core);
  std::unique_ptr<detail::ClientCore> core_;
};

}  // namespace discache
