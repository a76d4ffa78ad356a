// A kj::ProcessContext whose usage errors exit with code 2, not KJ's 1.
#pragma once

#include <kj/main.h>

namespace discache {

// Our binaries reserve exit code 1 for "not found" (discache-ctl get/has), so
// every error, including a bad flag, must exit 2. Everything else is KJ's
// TopLevelProcessContext unchanged.
class ExitCodeContext final : public kj::ProcessContext {
 public:
  static constexpr int kErrorExit = 2;

  explicit ExitCodeContext(kj::StringPtr program_name) : inner_(program_name) {}

  kj::StringPtr getProgramName() override { return inner_.getProgramName(); }
  KJ_NORETURN(void exit() override) { inner_.exit(); }
  void warning(kj::StringPtr message) override { inner_.warning(message); }
  void error(kj::StringPtr message) override { inner_.error(message); }
  KJ_NORETURN(void exitError(kj::StringPtr message) override);
  KJ_NORETURN(void exitInfo(kj::StringPtr message) override) { inner_.exitInfo(message); }
  void increaseLoggingVerbosity() override { inner_.increaseLoggingVerbosity(); }

 private:
  kj::TopLevelProcessContext inner_;
};

}  // namespace discache

// Like KJ_MAIN, with ExitCodeContext.
#define DISCACHE_MAIN(MainClass)                                               \
  int main(int argc, char* argv[]) {                                           \
    ::discache::ExitCodeContext context(argv[0]);                              \
    MainClass main_object(context);                                            \
    return ::kj::runMainAndExit(context, main_object.getMain(), argc, argv);   \
  }
