// The original Discache README, in C++: put, get, delete, has_key.
// Usage: basic [SEED]   (default 127.0.0.1:7400). Exits 0 only if all worked.
#include <discache/client.hpp>

#include <iostream>

int main(int argc, char** argv) {
  const std::string seed = argc > 1 ? argv[1] : "127.0.0.1:7400";
  auto client = discache::Client::connect({.seeds = {seed}});
  if (!client) {
    std::cerr << "cannot connect: " << client.error().describe() << "\n";
    return 1;
  }

  // Store a value
  if (auto stored = client->put("user1", R"({"name": "Jane", "email": "jane@example.com"})");
      !stored) {
    std::cerr << "put failed: " << stored.error().describe() << "\n";
    return 1;
  }

  // Retrieve a value: {:ok, user} / {:error, :not_found}
  if (auto user = client->get("user1")) {
    std::cout << "user1 = " << *user << "\n";
  } else if (user.error().is(discache::Errc::not_found)) {
    std::cout << "User not found in cache\n";
    return 1;
  } else {
    std::cerr << "get failed: " << user.error().describe() << "\n";
    return 1;
  }

  // Check if a key exists
  if (client->has_key("user1") != true) {
    std::cerr << "has_key(user1) should be true\n";
    return 1;
  }

  // Delete a value
  if (!client->del("user1")) {
    std::cerr << "delete failed\n";
    return 1;
  }
  auto gone = client->get("user1");
  if (gone || !gone.error().is(discache::Errc::not_found) || client->has_key("user1") != false) {
    std::cerr << "user1 should be gone after delete\n";
    return 1;
  }
  std::cout << "user1 deleted; has_key(user1) = false\n";
  return 0;
}
