#include "ctl_command.h"

namespace discache::testing {

CommandResult run_ctl(std::vector<std::string> args, std::optional<std::string> stdin_data,
                      std::chrono::milliseconds timeout) {
  args.insert(args.begin(), executable_from_env("DISCACHE_CTL"));
  return run_command(std::move(args), std::move(stdin_data), timeout);
}

}  // namespace discache::testing
