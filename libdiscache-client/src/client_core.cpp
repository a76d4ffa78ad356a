#include "client_core.h"

#include <kj/async-io.h>
#include <kj/debug.h>

#include <future>

#include "cluster_view.h"
#include "cookie.h"
#include "endpoint.h"
#include "kj_duration.h"

namespace discache::detail {

std::expected<std::unique_ptr<ClientCore>, Error> ClientCore::start(ClientOptions options) {
  if (options.seeds.empty()) {
    return std::unexpected(Error{Errc::invalid_argument, "no seed address given"});
  }
  for (const auto& seed : options.seeds) {
    auto endpoint = parse_endpoint(seed);
    if (!endpoint) {
      return std::unexpected(endpoint.error());
    }
  }
  if (options.cookie.empty()) {
    // Like the node: the environment can carry the cluster's secret.
    auto from_env = load_cookie(std::nullopt);
    if (!from_env) {
      return std::unexpected(from_env.error());
    }
    options.cookie = std::move(*from_env);
  }
  std::optional<TlsClientConfig> tls;
  if (options.tls_ca_file.empty() && !options.tls_server_name.empty()) {
    return std::unexpected(Error{Errc::invalid_argument,
                                 "tls_server_name is set but tls_ca_file is empty (TLS is off)"});
  }
  if (!options.tls_ca_file.empty()) {
    auto loaded = load_tls_client(options.tls_ca_file, options.tls_server_name, "tls_ca_file");
    if (!loaded) {
      return std::unexpected(loaded.error());
    }
    tls = std::move(*loaded);
  }
  std::unique_ptr<ClientCore> core(new ClientCore(std::move(options)));
  core->tls_ = std::move(tls);
  std::promise<std::expected<void, Error>> started;
  auto ready = started.get_future();
  core->thread_ = std::thread([raw = core.get(), &started]() {
    raw->thread_main(
        [&started](std::expected<void, Error> result) { started.set_value(std::move(result)); });
  });
  auto result = ready.get();
  if (!result) {
    return std::unexpected(result.error());  // ~ClientCore stops and joins the thread
  }
  return core;
}

ClientCore::~ClientCore() {
  {
    auto lock = queue_.lockExclusive();
    lock->stopping = true;
    if (lock->wake.get() != nullptr) {
      lock->wake->fulfill();
      lock->wake = nullptr;
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ClientCore::thread_main(std::function<void(std::expected<void, Error>)> started) {
  loop_thread_id_ = std::this_thread::get_id();
  auto io = kj::setupAsyncIo();
  ClusterView view(io, options_, versions_, tls_config());
  view_ = &view;
  view.publish_routes_to(routes_);
  auto boot = view.bootstrap().wait(io.waitScope);
  const bool ok = boot.has_value();
  started(std::move(boot));  // the starter may return and destroy us if !ok
  if (!ok) {
    return;
  }
  pump(view).exclusiveJoin(view.refresh_forever()).wait(io.waitScope);
  // Writes already acknowledged to callers (W < N) still have replicas to
  // reach: give them one deadline before the connections close.
  view.settle(to_kj(options_.deadline)).wait(io.waitScope);
  // Ops still queued complete with "shutting down" as they are destroyed here.
}

void ClientCore::track(KeyOp& op) {
  if (op.kind() == OpKind::put || op.kind() == OpKind::del) {
    op.hold(writes_.track(op.key()));
  }
}

void ClientCore::submit(KeyOp op) {
  track(op);
  auto lock = queue_.lockExclusive();
  lock->ops.push_back(std::move(op));
  if (lock->wake.get() != nullptr) {
    lock->wake->fulfill();
    lock->wake = nullptr;
  }
}

void ClientCore::submit_many(std::vector<KeyOp> ops) {
  if (ops.empty()) {
    return;
  }
  for (auto& op : ops) {
    track(op);
  }
  auto lock = queue_.lockExclusive();
  for (auto& op : ops) {
    lock->ops.push_back(std::move(op));
  }
  if (lock->wake.get() != nullptr) {
    lock->wake->fulfill();
    lock->wake = nullptr;
  }
}

void ClientCore::run_on_loop(LoopTask task) {
  auto lock = queue_.lockExclusive();
  lock->tasks.push_back(std::move(task));
  if (lock->wake.get() != nullptr) {
    lock->wake->fulfill();
    lock->wake = nullptr;
  }
}

void ClientCore::report_unreachable(std::string node) {
  run_on_loop([node = std::move(node)](ClusterView& view) { view.report_unreachable(node); });
}

kj::Promise<void> ClientCore::pump(ClusterView& view) {
  std::vector<KeyOp> ops;
  std::vector<LoopTask> tasks;
  kj::Maybe<kj::Promise<void>> sleep;
  {
    auto lock = queue_.lockExclusive();
    if (lock->stopping) {
      return kj::READY_NOW;
    }
    ops.swap(lock->ops);
    tasks.swap(lock->tasks);
    if (ops.empty() && tasks.empty()) {
      auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
      lock->wake = kj::mv(paf.fulfiller);
      sleep = kj::mv(paf.promise);
    }
  }
  KJ_IF_MAYBE (s, sleep) {
    return s->then([this, &view]() { return pump(view); });
  }
  for (auto& task : tasks) {
    task(view);
  }
  // Everything queued since the last wake-up leaves now: a lone op is never
  // held back, and a burst becomes one batch call per node.
  view.dispatch(std::move(ops));
  // Let the calls just issued go out before draining again.
  return kj::evalLater([this, &view]() { return pump(view); });
}

}  // namespace discache::detail
