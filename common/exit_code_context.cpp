#include "exit_code_context.h"

#include <unistd.h>

namespace discache {

void ExitCodeContext::exitError(kj::StringPtr message) {
  inner_.error(message);
  // KJ writes straight to the file descriptor: nothing is left to flush.
  _exit(kErrorExit);
}

}  // namespace discache
