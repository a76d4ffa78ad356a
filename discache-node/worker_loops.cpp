#include "worker_loops.h"

#include <kj/async-io.h>
#include <kj/debug.h>
#include <pthread.h>
#include <unistd.h>

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
  // Fulfilled from loop 0's thread to stop the worker (under mutex_).
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;
  // Fulfilled by the worker's thread once its loop is gone.
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> exited;
};

WorkerLoops::WorkerLoops(NodeContext& node, std::vector<int> listen_fds) : node_(node) {
  auto failure = kj::newPromiseAndCrossThreadFulfiller<kj::String>();
  failed_ = kj::mv(failure.promise);
  failure_ = kj::mv(failure.fulfiller);
  for (std::size_t i = 0; i < listen_fds.size(); ++i) {
    auto worker = std::make_unique<Worker>();
    worker->index = i + 1;
    auto exited = kj::newPromiseAndCrossThreadFulfiller<void>();
    worker->exited = kj::mv(exited.fulfiller);
    exited_.push_back(kj::mv(exited.promise));
    workers_.push_back(std::move(worker));
  }
  std::size_t started = 0;
  try {
    for (; started < listen_fds.size(); ++started) {
      Worker& worker = *workers_[started];
      worker.thread = std::thread([this, &worker, fd = listen_fds[started]]() { run(worker, fd); });
    }
  } catch (const std::system_error& e) {
    for (std::size_t i = started; i < listen_fds.size(); ++i) {
      close(listen_fds[i]);  // never handed to a loop
    }
    {
      std::lock_guard lock(mutex_);
      request_stop_locked();
    }
    join_all();
    throw std::runtime_error(std::string("cannot start a thread: ") + e.what());
  }
  std::unique_lock lock(mutex_);
  for (auto& worker : workers_) {
    started_.wait(lock, [&] { return worker->ready; });
    if (!worker->failure.empty()) {
      const std::string why = worker->failure;
      request_stop_locked();
      lock.unlock();
      join_all();
      throw std::runtime_error(why);
    }
  }
  // Every loop is registered: from now on any of them may hand ops to any other.
  serving_ = true;
  started_.notify_all();
}

WorkerLoops::~WorkerLoops() {
  {
    std::lock_guard lock(mutex_);
    request_stop_locked();
  }
  join_all();
}

kj::Promise<kj::String> WorkerLoops::failed() {
  KJ_IF_MAYBE (promise, failed_) {
    auto result = kj::mv(*promise);
    failed_ = nullptr;
    return result;
  }
  KJ_FAIL_REQUIRE("WorkerLoops::failed() is called once");
}

kj::Promise<void> WorkerLoops::stop() {
  {
    std::lock_guard lock(mutex_);
    request_stop_locked();
  }
  auto exited = kj::heapArrayBuilder<kj::Promise<void>>(exited_.size());
  for (auto& promise : exited_) {
    exited.add(kj::mv(promise));
  }
  exited_.clear();
  return kj::joinPromises(exited.finish()).then([this]() { join_all(); });
}

void WorkerLoops::request_stop_locked() {
  stopping_ = true;
  started_.notify_all();
  for (auto& worker : workers_) {
    if (worker->stop) {
      worker->stop->fulfill();
      worker->stop = nullptr;
    }
  }
}

void WorkerLoops::join_all() {
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
                 NodeLoop loop(node_, worker.index, io.provider->getTimer(), listen_fd);
                 auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
                 {
                   std::unique_lock lock(mutex_);
                   worker.stop = kj::mv(stop.fulfiller);
                   worker.ready = true;
                   started_.notify_all();
                   // No loop serves before every loop's executor is
                   // registered: an op could be handed to a loop not there yet.
                   started_.wait(lock, [&] { return serving_ || stopping_; });
                   if (stopping_) {
                     return;
                   }
                 }
                 auto work =
                     serve(*listener, loop)
                         .exclusiveJoin(run_expiry_sweeper(loop.shard(), io.provider->getTimer(),
                                                           SweepSchedule{}, &node_now_ms))
                         .then([]() { return kj::str("it stopped accepting"); },
                               [](kj::Exception&& e) { return kj::str(e.getDescription()); })
                         .then([this, &name](kj::String why) {
                           // Its shard is unreachable now: the node must leave.
                           std::lock_guard lock(mutex_);
                           if (failure_) {
                             failure_->fulfill(kj::str(name.c_str(), ": ", why));
                             failure_ = nullptr;
                           }
                         });
                 // After a failure the loop keeps serving its connections and
                 // the other loops' jobs until loop 0 has drained and stops it.
                 stop.promise
                     .exclusiveJoin(work.then([]() -> kj::Promise<void> { return kj::NEVER_DONE; }))
                     .wait(io.waitScope);
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
  // The loop and everything it owned are gone: loop 0 may join this thread.
  worker.exited->fulfill();
}

}  // namespace discache::node
