#include <condition_variable>
#include <discache/client.hpp>
#include <future>
#include <mutex>

#include "caller_path.h"
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

std::optional<Error> check_sizes(const ClientOptions& options, std::string_view key,
                                 std::string_view value) {
  if (key.empty()) {
    return Error{Errc::invalid_argument, "key is empty"};
  }
  if (key.size() > options.max_key_bytes) {
    return Error{Errc::too_large, "key is " + std::to_string(key.size()) +
                                      " bytes; max_key_bytes is " +
                                      std::to_string(options.max_key_bytes)};
  }
  if (value.size() > options.max_value_bytes) {
    return Error{Errc::too_large, "value is " + std::to_string(value.size()) +
                                      " bytes; max_value_bytes is " +
                                      std::to_string(options.max_value_bytes)};
  }
  return std::nullopt;
}

Error would_deadlock() {
  return Error{Errc::would_deadlock, "blocking call made on the client's own I/O thread"};
}

// Runs `fn` on the I/O thread and waits for the value it hands to `reply`.
// Called on the I/O thread itself (from a listener), `fn` runs in place if
// it answers at once; one that must wait for the network gets `on_loop`
// instead of deadlocking.
// `answers_at_once`: fn sets the reply before returning (a read of the view),
// so on the I/O thread it can run in place; otherwise it waits for the
// network, which that thread would be blocking, so it returns `on_loop`.
template <typename T, typename Fn>
T ask_loop(ClientCore& core, Fn fn, bool answers_at_once = true, T on_loop = T()) {
  std::promise<T> promise;
  auto future = promise.get_future();
  if (core.on_loop_thread()) {
    if (!answers_at_once) {
      return on_loop;
    }
    fn(*core.loop_view(), promise);
    return future.get();
  }
  core.run_on_loop([&promise, &fn](ClusterView& view) { fn(view, promise); });
  return future.get();
}

}  // namespace

void Client::submit(std::vector<detail::OpRequest> requests) {
  std::vector<KeyOp> ops;
  ops.reserve(requests.size());
  for (auto& r : requests) {
    // Bad input fails here, before anything is queued or sent.
    if (auto bad = check_sizes(core_->options(), r.key, r.value)) {
      r.done(std::unexpected(std::move(*bad)));
      continue;
    }
    detail::QueuedBytes::Token counted;
    const std::uint64_t bytes = r.key.size() + r.value.size();
    if (!core_->queued_bytes().try_take(bytes, counted)) {
      r.done(std::unexpected(Error{
          Errc::overloaded, "queued operations already hold max_queued_bytes (" +
                                std::to_string(core_->options().max_queued_bytes) +
                                " bytes); retry when some have completed"}));
      continue;
    }
    ops.emplace_back(r.kind, std::move(r.key), std::move(r.value), r.options, std::move(r.done));
    ops.back().hold_bytes(std::move(counted));
  }
  core_->submit_many(std::move(ops));
}

// The blocking forms: the async path, waited for on the calling thread.
namespace {

template <typename Result, typename Convert>
std::vector<Result> run_many(Client& client, ClientCore& core,
                             std::vector<detail::OpRequest> requests, Convert convert) {
  std::vector<Result> results(requests.size(), Result(std::unexpected(Error{})));
  if (core.on_loop_thread()) {
    for (auto& r : results) {
      r = std::unexpected(would_deadlock());
    }
    return results;
  }
  struct Wait {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left;
  } wait;
  wait.left = requests.size();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].done = [&, i](OpResult r) {
      results[i] = convert(std::move(r));
      std::lock_guard lock(wait.mutex);
      if (--wait.left == 0) {
        wait.done.notify_one();
      }
    };
  }
  client.submit(std::move(requests));
  std::unique_lock lock(wait.mutex);
  wait.done.wait(lock, [&] { return wait.left == 0; });
  return results;
}

template <typename Result, typename Convert>
Result run_one(Client& client, ClientCore& core, OpKind kind, std::string_view key,
               std::string_view value, PutOptions options, Convert convert) {
  std::vector<detail::OpRequest> one;
  one.push_back(detail::OpRequest{kind, std::string(key), std::string(value), options, {}});
  return std::move(run_many<Result>(client, core, std::move(one), convert).front());
}

}  // namespace

namespace {

// The caller's-thread fast path for a well-formed read, if it has the answer.
std::optional<OpResult> read_here(ClientCore& core, OpKind kind, std::string_view key) {
  if (core.on_loop_thread() || check_sizes(core.options(), key, {})) {
    return std::nullopt;
  }
  return detail::CallerPath::try_read(core, kind, key);
}

}  // namespace

std::expected<Item, Error> Client::get_item(std::string_view key) {
  if (auto here = read_here(*core_, OpKind::get, key)) {
    return detail::to_item(std::move(*here));
  }
  return run_one<std::expected<Item, Error>>(*this, *core_, OpKind::get, key, {}, {},
                                             &detail::to_item);
}

GetResult Client::get(std::string_view key) {
  if (auto here = read_here(*core_, OpKind::get, key)) {
    return detail::to_get(std::move(*here));
  }
  return run_one<GetResult>(*this, *core_, OpKind::get, key, {}, {}, &detail::to_get);
}

VoidResult Client::put(std::string_view key, std::string_view value, PutOptions options) {
  options.mode = PutMode::upsert;
  return run_one<VoidResult>(*this, *core_, OpKind::put, key, value, options, &detail::to_void);
}

VoidResult Client::put_if_absent(std::string_view key, std::string_view value, PutOptions options) {
  options.mode = PutMode::if_absent;
  return run_one<VoidResult>(*this, *core_, OpKind::put, key, value, options, &detail::to_void);
}

VersionResult Client::compare_and_set(std::string_view key, std::string_view value,
                                      std::uint64_t expected_version, PutOptions options) {
  options.mode = PutMode::compare_and_set;
  options.expected_version = expected_version;
  return run_one<VersionResult>(*this, *core_, OpKind::put, key, value, options,
                                &detail::to_version);
}

VoidResult Client::del(std::string_view key) {
  return run_one<VoidResult>(*this, *core_, OpKind::del, key, {}, {}, &detail::to_deleted);
}

BoolResult Client::has_key(std::string_view key) {
  if (auto here = read_here(*core_, OpKind::has, key)) {
    return detail::to_bool(std::move(*here));
  }
  return run_one<BoolResult>(*this, *core_, OpKind::has, key, {}, {}, &detail::to_bool);
}

std::vector<GetResult> Client::multi_get(std::span<const std::string> keys) {
  std::vector<detail::OpRequest> requests;
  requests.reserve(keys.size());
  for (const auto& key : keys) {
    requests.push_back(detail::OpRequest{OpKind::get, key, {}, {}, {}});
  }
  return run_many<GetResult>(*this, *core_, std::move(requests), &detail::to_get);
}

std::vector<VoidResult> Client::multi_put(std::span<const KeyValue> items, PutOptions options) {
  options.mode = PutMode::upsert;
  std::vector<detail::OpRequest> requests;
  requests.reserve(items.size());
  for (const auto& item : items) {
    requests.push_back(detail::OpRequest{OpKind::put, item.key, item.value, options, {}});
  }
  return run_many<VoidResult>(*this, *core_, std::move(requests), &detail::to_void);
}

std::vector<VoidResult> Client::multi_delete(std::span<const std::string> keys) {
  std::vector<detail::OpRequest> requests;
  requests.reserve(keys.size());
  for (const auto& key : keys) {
    requests.push_back(detail::OpRequest{OpKind::del, key, {}, {}, {}});
  }
  return run_many<VoidResult>(*this, *core_, std::move(requests), &detail::to_deleted);
}

GetResult Client::get_or_load(std::string_view key, const Loader& loader, PutOptions options) {
  if (core_->on_loop_thread()) {
    return std::unexpected(would_deadlock());
  }
  // One flight per key: the first caller leads (get, load on a miss, store);
  // callers arriving meanwhile wait for its result instead of loading too.
  auto [flight, leader] = core_->flights().join(key);
  if (!leader) {
    return flight.get();
  }
  GetResult result;
  try {
    result = get(key);
    if (!result && result.error().is(Errc::not_found)) {
      result = loader(key);
      if (result) {
        // The value is handed out even if storing it fails: the load worked.
        (void)put(key, *result, options);
      }
    }
  } catch (...) {
    // Waiters (and later callers) must not wait for ever on a thrown loader.
    core_->flights().land(key, std::unexpected(Error{Errc::internal, "the loader threw"}));
    throw;
  }
  core_->flights().land(key, result);
  return result;
}

MemberList Client::members() {
  return ask_loop<MemberList>(*core_, [](ClusterView& view, std::promise<MemberList>& reply) {
    reply.set_value(view.members());
  });
}

void Client::on_members_changed(std::function<void(const MemberList&)> listener) {
  core_->run_on_loop([listener = std::move(listener)](ClusterView& view) mutable {
    view.add_listener(std::move(listener));
  });
}

std::vector<Member> Client::owners(std::string_view key) {
  return ask_loop<std::vector<Member>>(
      *core_, [key](ClusterView& view, std::promise<std::vector<Member>>& reply) {
        reply.set_value(view.owners(key));
      });
}

std::vector<Replica> Client::locate(std::string_view key) {
  return ask_loop<std::vector<Replica>>(
      *core_,
      [key](ClusterView& view, std::promise<std::vector<Replica>>& reply) {
        view.locate(key, [&reply](std::vector<Replica> all) { reply.set_value(std::move(all)); });
      },
      false);
}

std::expected<void, Error> Client::drain(std::string_view node) {
  using Result = std::expected<void, Error>;
  return ask_loop<Result>(
      *core_,
      [node](ClusterView& view, std::promise<Result>& reply) {
        view.drain(node, [&reply](Result result) { reply.set_value(std::move(result)); });
      },
      false, std::unexpected(would_deadlock()));
}

RingInfo Client::ring() {
  return ask_loop<RingInfo>(*core_, [](ClusterView& view, std::promise<RingInfo>& reply) {
    reply.set_value(view.ring_info());
  });
}

std::vector<NodeStats> Client::stats() {
  return ask_loop<std::vector<NodeStats>>(
      *core_,
      [](ClusterView& view, std::promise<std::vector<NodeStats>>& reply) {
        view.collect_stats(
            [&reply](std::vector<NodeStats> all) { reply.set_value(std::move(all)); });
      },
      false);
}

}  // namespace discache
