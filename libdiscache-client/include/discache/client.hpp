// The discache client: the consistent-hash ring and a connection to each node.
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <discache/error.hpp>
#include <discache/member.hpp>
#include <discache/options.hpp>
#include <discache/stats.hpp>

namespace discache {

// A stored value with the version the node gave it (for compare_and_set).
struct Item {
  std::string value;
  std::uint64_t version = 0;
};

// One owner of a key and whether it holds the key now.
struct Replica {
  Member member;
  std::optional<bool> holds;  // empty when the node did not answer
  std::optional<Error> error;
};

// A key and the value to store under it, for multi_put.
struct KeyValue {
  std::string key;
  std::string value;
};

using GetResult = std::expected<std::string, Error>;
using VoidResult = std::expected<void, Error>;
using VersionResult = std::expected<std::uint64_t, Error>;  // the new version
using BoolResult = std::expected<bool, Error>;

namespace detail {
class ClientCore;
enum class OpKind : std::uint8_t { get, put, del, has };
using OpResult = std::expected<Item, Error>;
using OpCompletion = std::move_only_function<void(OpResult)>;
// One request of the async API; see Client::submit.
struct OpRequest {
  OpKind kind;
  std::string key;
  std::string value;
  PutOptions options;
  OpCompletion done;
};
}  // namespace detail

// A Client learns the member list from a seed, builds the ring and sends each
// operation straight to the nodes that own the key (N replicas). Every member
// function is safe to call from many threads at once. Operations issued at
// about the same time to the same node leave together in one batch call.
//
// Results are values: a miss is Errc::not_found, like the original's
// {:error, :not_found}; every other failure has its own Errc and a message.
//
// The client runs its network I/O on one private thread (a KJ event loop).
// Blocking calls wait for it; async_ calls take an Asio completion token (a
// callback, asio::use_future, asio::use_awaitable) and complete on the
// handler's associated executor, never on the client's thread. Because KJ is
// used, the process ignores SIGPIPE once a Client exists, and SIGUSR1 is
// reserved.
class Client {
 public:
  // Connects to the first seed that answers and reads the member list.
  // Errors: invalid_argument (a bad seed address), no_seed (none answered).
  static std::expected<Client, Error> connect(ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  // Finishes writes already acknowledged (up to one deadline), then stops;
  // operations still queued complete with unavailable.
  ~Client();

  // --- blocking, one key -----------------------------------------------------
  // Blocking calls made from a completion running on the client's own thread
  // fail with would_deadlock.

  // The value of `key`, or not_found; other errors: unavailable, timeout,
  // too_large, invalid_argument.
  GetResult get(std::string_view key);
  // Like get(), with the item's version (for compare_and_set).
  std::expected<Item, Error> get_item(std::string_view key);
  // Stores `value` under `key` on its owners; W acknowledgements complete it.
  // Errors: too_large (the message names the limit), invalid_argument,
  // out_of_memory, unavailable, timeout; version_mismatch when other clients
  // kept winning on the key (see docs/api.md).
  VoidResult put(std::string_view key, std::string_view value, PutOptions options = {});
  // Stores only if `key` has no live value (memcached's add): exists if it has.
  VoidResult put_if_absent(std::string_view key, std::string_view value, PutOptions options = {});
  // Stores only if the item's version is still `expected_version` (from
  // get_item), like memcached's cas. Returns the new version; errors:
  // version_mismatch (someone wrote since), not_found (it is gone).
  VersionResult compare_and_set(std::string_view key, std::string_view value,
                                std::uint64_t expected_version, PutOptions options = {});
  // Removes `key`; succeeds whether or not it was there. Errors: unavailable,
  // timeout; version_mismatch as for put.
  VoidResult del(std::string_view key);
  // Whether `key` holds a live value.
  BoolResult has_key(std::string_view key);

  // --- blocking, many keys ---------------------------------------------------
  // Keys are grouped by owner and sent as one request per node, all nodes in
  // parallel. Results come back in input order, each with its own status.

  std::vector<GetResult> multi_get(std::span<const std::string> keys);
  std::vector<VoidResult> multi_put(std::span<const KeyValue> items, PutOptions options = {});
  std::vector<VoidResult> multi_delete(std::span<const std::string> keys);

  // --- get or load -----------------------------------------------------------

  using Loader = std::function<GetResult(std::string_view key)>;
  // The value of `key`; on a miss, calls `loader` once per key per process
  // however many callers ask at once (singleflight), stores its value with
  // `options` (e.g. a TTL) and hands it to every waiter. A loader error
  // reaches every waiter and nothing is stored. The loader runs on the thread
  // of the first caller.
  GetResult get_or_load(std::string_view key, const Loader& loader, PutOptions options = {});

  // --- async (Asio completion tokens) -----------------------------------------
  // Each takes a token and completes with the same value as its blocking form:
  //   client.async_get("k", [](discache::GetResult r) { ... });
  //   std::future<GetResult> f = client.async_get("k", asio::use_future);
  //   GetResult r = co_await client.async_get("k", asio::use_awaitable);

  template <typename Token>
  auto async_get(std::string_view key, Token&& token);
  template <typename Token>
  auto async_get_item(std::string_view key, Token&& token);
  template <typename Token>
  auto async_put(std::string_view key, std::string_view value, PutOptions options, Token&& token);
  template <typename Token>
  auto async_put_if_absent(std::string_view key, std::string_view value, PutOptions options,
                           Token&& token);
  template <typename Token>
  auto async_compare_and_set(std::string_view key, std::string_view value,
                             std::uint64_t expected_version, PutOptions options, Token&& token);
  template <typename Token>
  auto async_del(std::string_view key, Token&& token);
  template <typename Token>
  auto async_has_key(std::string_view key, Token&& token);
  template <typename Token>
  auto async_multi_get(std::vector<std::string> keys, Token&& token);
  template <typename Token>
  auto async_multi_put(std::vector<KeyValue> items, PutOptions options, Token&& token);
  template <typename Token>
  auto async_multi_delete(std::vector<std::string> keys, Token&& token);

  // --- cluster ---------------------------------------------------------------

  // The member list as this client knows it now (nodes push changes).
  MemberList members();
  // Calls `listener` with the new list after every change this client learns
  // of, until the Client is destroyed. It runs on the client's I/O thread: it
  // must return quickly and must not call blocking Client functions.
  void on_members_changed(std::function<void(const MemberList&)> listener);
  // The nodes that own `key`, in replica order (at most the replication factor).
  std::vector<Member> owners(std::string_view key);
  // Asks each owner of `key` directly whether it holds it (replica order).
  std::vector<Replica> locate(std::string_view key);
  // The ring this client routes with: each node's vnodes and key-space share.
  RingInfo ring();
  // Asks the node named `node` (its name or address) to leave gracefully:
  // it hands its keys to their new owners, then exits. Errors: invalid_argument
  // (no such member), unavailable, timeout.
  VoidResult drain(std::string_view node);
  // Asks every member for its counters; a node that does not answer has
  // `error` set in its entry instead. (members, owners and ring answer from
  // the client's own view and work anywhere; stats, locate and drain need
  // the network: called from a listener they return empty / would_deadlock.)
  std::vector<NodeStats> stats();

  // Not for applications: the entry point of the async_ templates. Queues the
  // requests together (one wake-up of the I/O thread); each `done` runs once,
  // on the client's I/O thread.
  void submit(std::vector<detail::OpRequest> requests);

 private:
  explicit Client(std::unique_ptr<detail::ClientCore> core);

  // Runs `handler(result)` on the handler's executor, keeping it busy until then.
  template <typename Result, typename Handler>
  static auto completion_on_executor(Handler handler);
  template <typename Result, typename Token, typename Convert>
  auto async_one(detail::OpKind kind, std::string key, std::string value, PutOptions options,
                 Token&& token, Convert convert);
  template <typename Result, typename Token, typename Convert>
  auto async_many(std::vector<detail::OpRequest> requests, Token&& token, Convert convert);

  std::unique_ptr<detail::ClientCore> core_;
};

// ---- implementation of the templates -----------------------------------------

namespace detail {
// How each public result is made from an op's outcome.
inline GetResult to_get(OpResult r) {
  if (!r) return std::unexpected(std::move(r.error()));
  return std::move(r->value);
}
inline std::expected<Item, Error> to_item(OpResult r) { return r; }
inline VoidResult to_void(OpResult r) {
  if (!r) return std::unexpected(std::move(r.error()));
  return {};
}
inline VersionResult to_version(OpResult r) {
  if (!r) return std::unexpected(std::move(r.error()));
  return r->version;
}
inline VoidResult to_deleted(OpResult r) {
  if (!r && !r.error().is(Errc::not_found)) return std::unexpected(std::move(r.error()));
  return {};
}
inline BoolResult to_bool(OpResult r) {
  if (!r) {
    if (r.error().is(Errc::not_found)) return false;
    return std::unexpected(std::move(r.error()));
  }
  return true;
}
}  // namespace detail

template <typename Result, typename Handler>
auto Client::completion_on_executor(Handler handler) {
  auto executor = asio::get_associated_executor(handler);
  auto work = asio::make_work_guard(executor);
  return [handler = std::move(handler), work = std::move(work)](Result result) mutable {
    auto ex = work.get_executor();
    asio::post(ex, [handler = std::move(handler), result = std::move(result),
                    work = std::move(work)]() mutable { std::move(handler)(std::move(result)); });
  };
}

template <typename Result, typename Token, typename Convert>
auto Client::async_one(detail::OpKind kind, std::string key, std::string value,
                       PutOptions options, Token&& token, Convert convert) {
  return asio::async_initiate<Token, void(Result)>(
      [this, kind, options, convert](auto handler, std::string key, std::string value) {
        auto finish = completion_on_executor<Result>(std::move(handler));
        std::vector<detail::OpRequest> one;
        one.push_back(detail::OpRequest{
            kind, std::move(key), std::move(value), options,
            [finish = std::move(finish), convert](detail::OpResult r) mutable {
              finish(convert(std::move(r)));
            }});
        submit(std::move(one));
      },
      token, std::move(key), std::move(value));
}

template <typename Result, typename Token, typename Convert>
auto Client::async_many(std::vector<detail::OpRequest> requests, Token&& token, Convert convert) {
  using Element = typename Result::value_type;
  return asio::async_initiate<Token, void(Result)>(
      [this, convert](auto handler, std::vector<detail::OpRequest> requests) {
        // Every op fills its slot; the last one to finish completes the call.
        struct Gather {
          Result results;
          std::size_t left;
          std::move_only_function<void(Result)> finish;
        };
        auto gather = std::make_shared<Gather>();
        gather->results.resize(requests.size(), Element(std::unexpected(Error{})));
        gather->left = requests.size();
        gather->finish = completion_on_executor<Result>(std::move(handler));
        if (requests.empty()) {
          gather->finish(std::move(gather->results));
          return;
        }
        for (std::size_t i = 0; i < requests.size(); ++i) {
          requests[i].done = [gather, i, convert](detail::OpResult r) {
            gather->results[i] = convert(std::move(r));
            if (--gather->left == 0) {  // all completions run on the I/O thread
              gather->finish(std::move(gather->results));
            }
          };
        }
        submit(std::move(requests));
      },
      token, std::move(requests));
}

template <typename Token>
auto Client::async_get(std::string_view key, Token&& token) {
  return async_one<GetResult>(detail::OpKind::get, std::string(key), {}, {},
                              std::forward<Token>(token), &detail::to_get);
}
template <typename Token>
auto Client::async_get_item(std::string_view key, Token&& token) {
  return async_one<std::expected<Item, Error>>(detail::OpKind::get, std::string(key), {}, {},
                                               std::forward<Token>(token), &detail::to_item);
}
template <typename Token>
auto Client::async_put(std::string_view key, std::string_view value, PutOptions options,
                       Token&& token) {
  options.mode = PutMode::upsert;
  return async_one<VoidResult>(detail::OpKind::put, std::string(key), std::string(value), options,
                               std::forward<Token>(token), &detail::to_void);
}
template <typename Token>
auto Client::async_put_if_absent(std::string_view key, std::string_view value,
                                 PutOptions options, Token&& token) {
  options.mode = PutMode::if_absent;
  return async_one<VoidResult>(detail::OpKind::put, std::string(key), std::string(value), options,
                               std::forward<Token>(token), &detail::to_void);
}
template <typename Token>
auto Client::async_compare_and_set(std::string_view key, std::string_view value,
                                   std::uint64_t expected_version, PutOptions options,
                                   Token&& token) {
  options.mode = PutMode::compare_and_set;
  options.expected_version = expected_version;
  return async_one<VersionResult>(detail::OpKind::put, std::string(key), std::string(value),
                                  options, std::forward<Token>(token), &detail::to_version);
}
template <typename Token>
auto Client::async_del(std::string_view key, Token&& token) {
  return async_one<VoidResult>(detail::OpKind::del, std::string(key), {}, {},
                               std::forward<Token>(token), &detail::to_deleted);
}
template <typename Token>
auto Client::async_has_key(std::string_view key, Token&& token) {
  return async_one<BoolResult>(detail::OpKind::has, std::string(key), {}, {},
                               std::forward<Token>(token), &detail::to_bool);
}
template <typename Token>
auto Client::async_multi_get(std::vector<std::string> keys, Token&& token) {
  std::vector<detail::OpRequest> requests;
  requests.reserve(keys.size());
  for (auto& key : keys) {
    requests.push_back(detail::OpRequest{detail::OpKind::get, std::move(key), {}, {}, {}});
  }
  return async_many<std::vector<GetResult>>(std::move(requests), std::forward<Token>(token),
                                            &detail::to_get);
}
template <typename Token>
auto Client::async_multi_put(std::vector<KeyValue> items, PutOptions options, Token&& token) {
  options.mode = PutMode::upsert;
  std::vector<detail::OpRequest> requests;
  requests.reserve(items.size());
  for (auto& item : items) {
    requests.push_back(detail::OpRequest{detail::OpKind::put, std::move(item.key),
                                         std::move(item.value), options, {}});
  }
  return async_many<std::vector<VoidResult>>(std::move(requests), std::forward<Token>(token),
                                             &detail::to_void);
}
template <typename Token>
auto Client::async_multi_delete(std::vector<std::string> keys, Token&& token) {
  std::vector<detail::OpRequest> requests;
  requests.reserve(keys.size());
  for (auto& key : keys) {
    requests.push_back(detail::OpRequest{detail::OpKind::del, std::move(key), {}, {}, {}});
  }
  return async_many<std::vector<VoidResult>>(std::move(requests), std::forward<Token>(token),
                                             &detail::to_deleted);
}

}  // namespace discache
