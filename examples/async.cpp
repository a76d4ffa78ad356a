// The async API with C++20 coroutines (asio::use_awaitable), plus the same
// calls with a callback and with asio::use_future.
// Usage: async [SEED]   (default 127.0.0.1:7400). Exits 0 only if all worked.
#include <asio.hpp>
#include <discache/client.hpp>

#include <iostream>

namespace {

asio::awaitable<bool> session(discache::Client& client) {
  auto stored = co_await client.async_put("greeting", "hello", {}, asio::use_awaitable);
  if (!stored) {
    std::cerr << "async_put: " << stored.error().describe() << "\n";
    co_return false;
  }
  auto value = co_await client.async_get("greeting", asio::use_awaitable);
  if (!value || *value != "hello") {
    std::cerr << "async_get did not return hello\n";
    co_return false;
  }
  std::cout << "coroutine: greeting = " << *value << "\n";
  auto deleted = co_await client.async_del("greeting", asio::use_awaitable);
  auto present = co_await client.async_has_key("greeting", asio::use_awaitable);
  co_return deleted.has_value() && present == false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string seed = argc > 1 ? argv[1] : "127.0.0.1:7400";
  auto client = discache::Client::connect({.seeds = {seed}});
  if (!client) {
    std::cerr << "cannot connect: " << client.error().describe() << "\n";
    return 1;
  }
  asio::io_context io;

  // 1. Coroutines: completions resume on the io_context's thread.
  bool coroutine_ok = false;
  asio::co_spawn(io, session(*client), [&](std::exception_ptr e, bool ok) {
    coroutine_ok = !e && ok;
  });

  // 2. A callback bound to the io_context's executor.
  bool callback_ok = false;
  client->async_put("cb-key", "cb-value", {},
                    asio::bind_executor(io, [&](discache::VoidResult r) { callback_ok = r.has_value(); }));
  io.run();

  // 3. A future, waited for on this thread.
  std::future<discache::GetResult> future = client->async_get("cb-key", asio::use_future);
  const bool future_ok = future.get() == "cb-value";
  std::cout << "callback: " << (callback_ok ? "ok" : "failed")
            << ", future: " << (future_ok ? "ok" : "failed") << "\n";
  return coroutine_ok && callback_ok && future_ok ? 0 : 1;
}
