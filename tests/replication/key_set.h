// The key sets replication tests write and check: every key's value derives
// from its name, so any node's copy can be verified without a reference map.
#pragma once

#include <discache/client.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace discache::testing {

inline constexpr std::size_t kChunk = 1000;  // keys per multi_put / multi_get call

// "key-0" .. "key-<count-1>".
std::vector<std::string> make_keys(std::size_t count);
// The value every test stores under `key`.
std::string value_of(const std::string& key);
// keys[start, start + kChunk).
std::vector<std::string> chunk_of(const std::vector<std::string>& keys, std::size_t start);
// Writes every key with multi_put, kChunk keys per call; REQUIREs each succeeded.
void put_all(Client& client, const std::vector<std::string>& keys);
// Reads every key; one line per key that did not come back with its value
// (at most 10, then a count). Empty: all good.
std::string unreadable_keys(Client& client, const std::vector<std::string>& keys);
// Items stored on all answering nodes together, from their stats.
std::uint64_t stored_copies(Client& client);
// Which of `keys` the node at `address` holds with the right value, asked
// directly (not through the ring).
std::vector<bool> held_by(const std::string& address, const std::vector<std::string>& keys);
// Per key, asks each owner under `client`'s ring directly whether it holds
// the key; one line per missing copy (at most 10, then a count).
std::string missing_copies(Client& client, const std::vector<std::string>& keys);

}  // namespace discache::testing
