#include "worker_loops.h"

#include <kj/async-io.h>
#include <kj/debug.h>
#include <pthread.h>

#include <iostream>
#include <stdexcept>

#include "expiry_sweeper.h"
#include "node_loop.h"
#include "node_server.h"

namespace discache::node {

struct WorkerLoops::Worker {
  std::size_t index = 0;
  std::thread thread;
  // Set under mutex_ once the loop is registered (or failed to start).
  bool ready = false;
  std::string failure;
  // Fulfilled from loop 0's thread to stop the worker.
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;
};

WorkerLoops::WorkerLoops(NodeContext& node, std::vector<int> listen_fds) : node_(node) {
  for (std::size_t i = 0; i < listen_fds.size(); ++i) {
    auto worker = std::make_unique<Worker>();
    worker->index = i + 1;
    workers_.push_back(std::move(worker));
  }
  for (std::size_t i = 0; i < listen_fds.size(); ++i) {
    Worker& worker = *workers_[i];
    worker.thread = std::thread([this, &worker, fd = listen_fds[i]]() { run(worker, fd); });
  }
  std::unique_lock lock(mutex_);
  for (auto& worker : workers_) {
    started_.wait(lock, [&] { return worker->ready; });
    if (!worker->failure.empty()) {
      lock.unlock();
      stop();
      throw std::runtime_error(worker->failure);
    }
  }
  // Every loop is registered: from now on any of them may hand ops to any other.
  serving_ = true;
  started_.notify_all();
}

WorkerLoops::~WorkerLoops() {
  stop();
}

void WorkerLoops::stop() {
  {
    std::lock_guard lock(mutex_);
    serving_ = true;  // releases workers still waiting to serve; they stop at once
    started_.notify_all();
    for (auto& worker : workers_) {
      if (worker->stop) {
        worker->stop->fulfill();
        worker->stop = nullptr;
      }
    }
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) {
      worker->thread.join();
    }
  }
}

void WorkerLoops::run(Worker& worker, int listen_fd) {
  const std::string name = "discache-loop" + std::to_string(worker.index);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 auto io = kj::setupAsyncIo();
                 auto listener = io.lowLevelProvider->wrapListenSocketFd(
                     listen_fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
                 NodeLoop loop(node_, worker.index, io.provider->getTimer());
                 auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
                 {
                   std::unique_lock lock(mutex_);
                   worker.stop = kj::mv(stop.fulfiller);
                   worker.ready = true;
                   started_.notify_all();
                   // No loop serves before every loop's executor is
                   // registered: an op could be handed to a loop not there yet.
                   started_.wait(lock, [&] { return serving_; });
                 }
                 auto work =
                     serve(*listener, loop)
                         .exclusiveJoin(run_expiry_sweeper(loop.shard(), io.provider->getTimer(),
                                                           SweepSchedule{}, &node_now_ms))
                         .then([]() {},
                               [&name](kj::Exception&& e) {
                                 KJ_LOG(ERROR, "event loop stopped serving", name,
                                        e.getDescription());
                               });
                 stop.promise.exclusiveJoin(kj::mv(work)).wait(io.waitScope);
               })) {
    std::string failure = name + ": " + exception->getDescription().cStr();
    std::lock_guard lock(mutex_);
    if (!worker.ready) {
      worker.failure = std::move(failure);
      worker.ready = true;
      started_.notify_all();
    } else {
      std::cerr << "discache-node[" << node_.name() << "]: " << failure << std::endl;
    }
  }
}

}  // namespace discache::node
