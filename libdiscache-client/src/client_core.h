// The hand-off between application threads and the client's I/O thread.
#pragma once

#include <kj/async.h>
#include <kj/mutex.h>

#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <vector>

// The whole class, not a declaration: clang checks the size of
// move_only_function's parameter types (LoopTask takes a ClusterView&).
#include "cluster_view.h"
#include "key_op.h"
#include "route_snapshot.h"
#include "single_flight.h"
#include "tls_config.h"

namespace discache::detail {

// Any thread may submit; the I/O thread drains everything queued at each
// wake-up, so many submissions cost one wake-up and leave as few batch calls.
class ClientCore {
 public:
  using LoopTask = std::move_only_function<void(ClusterView&)>;

  // Starts the I/O thread and waits until the member list is known.
  static std::expected<std::unique_ptr<ClientCore>, Error> start(ClientOptions options);
  ~ClientCore();

  // Any thread. Queues one key operation.
  void submit(KeyOp op);
  // Any thread. Queues operations together: they leave in the same wake-up.
  void submit_many(std::vector<KeyOp> ops);
  // Any thread. The get_or_load flights of this client.
  SingleFlight& flights() { return flights_; }
  // Any thread. Runs `task` on the I/O thread with the cluster view.
  void run_on_loop(LoopTask task);
  // True on the client's own I/O thread (where blocking calls would deadlock).
  bool on_loop_thread() const { return std::this_thread::get_id() == loop_thread_id_; }
  const ClientOptions& options() const { return options_; }
  // Any thread. The TLS settings read at start; null when TLS is off.
  const TlsClientConfig* tls_config() const { return tls_ ? &*tls_ : nullptr; }
  // The I/O thread's cluster view; only for code already on that thread.
  ClusterView* loop_view() const { return view_; }
  // Any thread. The writes not yet answered by every replica.
  const WritesInFlight& writes_in_flight() const { return writes_; }
  // Any thread. What submitted, unfinished ops hold (max_queued_bytes).
  QueuedBytes& queued_bytes() { return queued_bytes_; }
  // Any thread. The routing state for reads done on the caller's thread.
  std::shared_ptr<const RouteSnapshot> route() const { return routes_.current(); }
  // Any thread. Lives exactly as long as this core: callers' threads hold
  // weak references to tell their connections for a closed client apart.
  const std::shared_ptr<const int>& identity() const { return identity_; }
  // Any thread. The client's version clock: the I/O thread stamps writes
  // with it; every thread that gets a reply observes the reply's version.
  VersionClock& versions() { return versions_; }
  // Any thread. Has the I/O thread mark `node` down (a caller's thread found
  // it unreachable); ops queued after this call already route around it.
  void report_unreachable(std::string node);

 private:
  explicit ClientCore(ClientOptions options)
      : options_(std::move(options)), queued_bytes_(options_.max_queued_bytes) {}
  void thread_main(std::function<void(std::expected<void, Error>)> started);
  kj::Promise<void> pump(ClusterView& view);
  void track(KeyOp& op);

  struct Queue {
    std::vector<KeyOp> ops;
    std::vector<LoopTask> tasks;
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake;
    bool stopping = false;
  };

  ClientOptions options_;
  std::optional<TlsClientConfig> tls_;  // set before the I/O thread starts
  SingleFlight flights_;
  kj::MutexGuarded<Queue> queue_;
  std::thread thread_;
  std::thread::id loop_thread_id_;
  ClusterView* view_ = nullptr;  // set and used on the I/O thread only
  RouteBoard routes_;
  WritesInFlight writes_;
  QueuedBytes queued_bytes_;
  std::shared_ptr<const int> identity_ = std::make_shared<const int>(0);
  // A random writer id keeps two clients' versions distinct.
  VersionClock versions_{static_cast<std::uint16_t>(std::random_device{}())};
};

}  // namespace discache::detail
