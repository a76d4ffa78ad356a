// What a kj::TaskSet does with a background task that failed.
#pragma once

#include <kj/async.h>

namespace discache {

// Any thread that owns the TaskSet. Logs each failure once, naming the kind
// of task (`what`, e.g. "handoff task failed"). A DISCONNECTED failure is a
// peer or loop going away, which the owner handles itself: logged only when
// `disconnects_too`.
class LogTaskFailures final : public kj::TaskSet::ErrorHandler {
 public:
  explicit LogTaskFailures(const char* what, bool disconnects_too = true)
      : what_(what), disconnects_too_(disconnects_too) {}
  void taskFailed(kj::Exception&& exception) override;

 private:
  const char* what_;
  bool disconnects_too_;
};

// For tasks that handle their own failures, or whose failure is no news.
class IgnoreTaskFailures final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}
};

}  // namespace discache
