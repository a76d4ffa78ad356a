// Running discache-ctl as a separate process, as an operator would.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"

namespace discache::testing {

// Runs $DISCACHE_CTL with `args` (e.g. {"--seed", addr, "get", "k"}), feeding
// it `stdin_data`; it is SIGKILLed after `timeout` (result.timed_out).
CommandResult run_ctl(std::vector<std::string> args,
                      std::optional<std::string> stdin_data = std::nullopt,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace discache::testing
