// Loops 1..N-1 of a node, each on a thread of its own.
#pragma once

#include <kj/async.h>
#include <kj/string.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node_context.h"

namespace discache::node {

// Created, used and destroyed on loop 0's thread. Each worker runs a KJ event
// loop that owns shard i and accepts on listening socket i (same port, see
// listen_sockets.h) until stopped. Construct after node.loops[0] exists and
// before loop 0 starts serving.
class WorkerLoops {
 public:
  // Starts one thread per socket in `listen_fds` (loops 1, 2, ...; the fds
  // become theirs) and returns once every loop is registered in `node`.
  // Throws std::runtime_error naming the loop if one could not start; the
  // threads already started are stopped and joined first.
  WorkerLoops(NodeContext& node, std::vector<int> listen_fds);
  // Stops and joins workers still running (blocking: use stop() first).
  ~WorkerLoops();
  WorkerLoops(const WorkerLoops&) = delete;
  WorkerLoops& operator=(const WorkerLoops&) = delete;

  // Resolves, with what happened, if a worker stops serving on its own (its
  // accept loop failed): its shard is then unreachable and the node must
  // leave the cluster. Call once.
  kj::Promise<kj::String> failed();

  // Stops every worker and resolves once each has torn its loop down and its
  // thread is joined. Loop 0 keeps running meanwhile, so a worker still
  // waiting on a job it gave loop 0 can cancel it.
  kj::Promise<void> stop();

 private:
  struct Worker;
  void run(Worker& worker, int listen_fd);
  // Under mutex_: tells every registered worker to stop; workers not yet
  // registered stop as soon as they are.
  void request_stop_locked();
  void join_all();

  NodeContext& node_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<kj::Promise<void>> exited_;  // one per worker, fulfilled by its thread
  kj::Maybe<kj::Promise<kj::String>> failed_;
  kj::Own<kj::CrossThreadPromiseFulfiller<kj::String>> failure_;  // under mutex_
  std::mutex mutex_;
  std::condition_variable started_;
  bool serving_ = false;   // every loop registered: workers may serve
  bool stopping_ = false;  // workers not serving yet must not start
};

}  // namespace discache::node
