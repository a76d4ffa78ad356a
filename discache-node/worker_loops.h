// Loops 1..N-1 of a node, each on a thread of its own.
#pragma once

#include <kj/async.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node_context.h"

namespace discache::node {

// Created and destroyed on loop 0's thread. Each worker runs a KJ event loop
// that owns shard i and accepts on listening socket i (same port, see
// listen_sockets.h) until stopped. Construct after node.loops[0] exists and
// before loop 0 starts serving.
class WorkerLoops {
 public:
  // Starts one thread per socket in `listen_fds` (loops 1, 2, ...; the fds
  // become theirs) and returns once every loop is registered in `node`.
  // Throws std::runtime_error naming the loop if one could not start.
  WorkerLoops(NodeContext& node, std::vector<int> listen_fds);
  // Stops the workers still running and joins their threads.
  ~WorkerLoops();
  WorkerLoops(const WorkerLoops&) = delete;
  WorkerLoops& operator=(const WorkerLoops&) = delete;

  // Stops every worker: each closes its listening socket and connections,
  // then its thread ends. Blocks until they all have.
  void stop();

 private:
  struct Worker;
  void run(Worker& worker, int listen_fd);

  NodeContext& node_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex mutex_;
  std::condition_variable started_;
  bool serving_ = false;  // every loop registered (or stopping): workers may serve
};

}  // namespace discache::node
