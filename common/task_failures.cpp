#include "task_failures.h"

#include <kj/debug.h>

namespace discache {

void LogTaskFailures::taskFailed(kj::Exception&& exception) {
  if (exception.getType() == kj::Exception::Type::DISCONNECTED && !disconnects_too_) {
    return;
  }
  KJ_LOG(WARNING, what_, exception.getDescription());
}

}  // namespace discache
