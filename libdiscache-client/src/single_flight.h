// One load per key per process, however many callers miss at once.
#pragma once

#include <discache/client.hpp>

#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace discache::detail {

// Any thread. The first caller of join() for a key leads the flight and must
// call land() with its result; callers joining before that get a future of
// the same result (groupcache's singleflight).
class SingleFlight {
 public:
  // The flight's result, and whether this caller leads it.
  std::pair<std::shared_future<GetResult>, bool> join(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(std::string(key));
    if (it != flights_.end()) {
      return {it->second.result, false};
    }
    Flight flight;
    flight.result = flight.promise.get_future().share();
    auto result = flight.result;
    flights_.emplace(std::string(key), std::move(flight));
    return {std::move(result), true};
  }

  // Hands `result` to everyone who joined, and ends the flight.
  void land(std::string_view key, const GetResult& result) {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(std::string(key));
    if (it != flights_.end()) {
      it->second.promise.set_value(result);
      flights_.erase(it);
    }
  }

 private:
  struct Flight {
    std::promise<GetResult> promise;
    std::shared_future<GetResult> result;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Flight> flights_;
};

}  // namespace discache::detail
