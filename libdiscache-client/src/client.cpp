#include <discache/client.hpp>

#include <future>

#include "client_core.h"
#include "cluster_view.h"

namespace discache {

using detail::ClientCore;
using detail::ClusterView;
using detail::KeyOp;
using detail::OpKind;
using detail::OpResult;

Client::Client(std::unique_ptr<ClientCore> core) : core_(std::move(core)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

std::expected<Client, Error> Client::connect(ClientOptions options) {
  auto core = ClientCore::start(std::move(options));
  if (!core) {
    return std::unexpected(core.error());
  }
  return Client(std::move(*core));
}

namespace {

std::expected<void, Error> check_sizes(const ClientOptions& options, std::string_view key,
                                       std::string_view value) {
  if (key.empty()) {
    return std::unexpected(Error{Errc::invalid_argument, "key is empty"});
  }
  if (key.size() > options.max_key_bytes) {
    return std::unexpected(Error{Errc::too_large, "key is " + std::to_string(key.size()) +
                                                      " bytes; max_key_bytes is " +
                                                      std::to_string(options.max_key_bytes)});
  }
  if (value.size() > options.max_value_bytes) {
    return std::unexpected(Error{Errc::too_large, "value is " + std::to_string(value.size()) +
                                                      " bytes; max_value_bytes is " +
                                                      std::to_string(options.max_value_bytes)});
  }
  return {};
}

// Runs one op and waits for it on the calling thread.
OpResult run_blocking(ClientCore& core, OpKind kind, std::string_view key, std::string_view value,
                      PutOptions options) {
  if (core.on_loop_thread()) {
    return std::unexpected(Error{Errc::would_deadlock,
                                 "blocking call made on the client's own I/O thread"});
  }
  if (auto ok = check_sizes(core.options(), key, value); !ok) {
    return std::unexpected(ok.error());
  }
  std::promise<OpResult> promise;
  auto future = promise.get_future();
  core.submit(KeyOp(kind, std::string(key), std::string(value), options,
                    [&promise](OpResult result) { promise.set_value(std::move(result)); }));
  return future.get();
}

// Runs `fn` on the I/O thread and waits for the value it hands to `reply`.
template <typename T, typename Fn>
T ask_loop(ClientCore& core, Fn fn) {
  std::promise<T> promise;
  auto future = promise.get_future();
  core.run_on_loop([&promise, &fn](ClusterView& view) { fn(view, promise); });
  return future.get();
}

}  // namespace

std::expected<Item, Error> Client::get_item(std::string_view key) {
  return run_blocking(*core_, OpKind::get, key, {}, {});
}

std::expected<std::string, Error> Client::get(std::string_view key) {
  auto item = get_item(key);
  if (!item) {
    return std::unexpected(std::move(item.error()));
  }
  return std::move(item->value);
}

std::expected<void, Error> Client::put(std::string_view key, std::string_view value,
                                       PutOptions options) {
  auto result = run_blocking(*core_, OpKind::put, key, value, options);
  if (!result) {
    return std::unexpected(std::move(result.error()));
  }
  return {};
}

std::expected<void, Error> Client::del(std::string_view key) {
  auto result = run_blocking(*core_, OpKind::del, key, {}, {});
  if (!result && !result.error().is(Errc::not_found)) {
    return std::unexpected(std::move(result.error()));
  }
  return {};
}

std::expected<bool, Error> Client::has_key(std::string_view key) {
  auto result = run_blocking(*core_, OpKind::has, key, {}, {});
  if (!result) {
    if (result.error().is(Errc::not_found)) {
      return false;
    }
    return std::unexpected(std::move(result.error()));
  }
  return true;
}

MemberList Client::members() {
  return ask_loop<MemberList>(*core_, [](ClusterView& view, std::promise<MemberList>& reply) {
    reply.set_value(view.members());
  });
}

void Client::on_members_changed(std::function<void(const MemberList&)> listener) {
  core_->run_on_loop(
      [listener = std::move(listener)](ClusterView& view) mutable {
        view.add_listener(std::move(listener));
      });
}

std::vector<Member> Client::owners(std::string_view key) {
  return ask_loop<std::vector<Member>>(
      *core_, [key](ClusterView& view, std::promise<std::vector<Member>>& reply) {
        reply.set_value(view.owners(key));
      });
}

RingInfo Client::ring() {
  return ask_loop<RingInfo>(*core_, [](ClusterView& view, std::promise<RingInfo>& reply) {
    reply.set_value(view.ring_info());
  });
}

std::vector<NodeStats> Client::stats() {
  return ask_loop<std::vector<NodeStats>>(
      *core_, [](ClusterView& view, std::promise<std::vector<NodeStats>>& reply) {
        view.collect_stats([&reply](std::vector<NodeStats> all) { reply.set_value(std::move(all)); });
      });
}

}  // namespace discache
