// Cap'n Proto RPC messages built by hand, as a peer that breaks the rules
// (never reads, never finishes its calls) would send them over a raw socket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace discache::testing {

// Bootstrap: asks for the node's Gate as answer `question`.
std::string bootstrap_message(std::uint32_t question);
// Gate.login on the bootstrap answer, pipelined; its Node is answer `question`.
std::string login_message(std::uint32_t question, std::uint32_t bootstrap_question,
                          std::string_view cookie);
// Node.get(key) on the Node that login answer `login_question` holds, pipelined.
std::string get_message(std::uint32_t question, std::uint32_t login_question, std::string_view key);
// Node.batch of `ops` puts, each of a key "<prefix><i>" and `value_bytes`
// bytes of 'v', on the Node that login answer `login_question` holds.
std::string batch_put_message(std::uint32_t question, std::uint32_t login_question,
                              std::string_view key_prefix, std::size_t ops,
                              std::size_t value_bytes);
// Node.batch of `ops` gets, of keys "<prefix><i % distinct_keys>".
std::string batch_get_message(std::uint32_t question, std::uint32_t login_question,
                              std::string_view key_prefix, std::size_t ops,
                              std::size_t distinct_keys);
// Where a message built with question id `question` holds that id, so a
// test can reuse one large message under many ids; npos if not found.
std::size_t question_offset(std::string_view message, std::uint32_t question);
// The reason in an Abort message at the start of `bytes` (what the node said
// before closing), or "" if `bytes` does not start with one whole Abort.
std::string abort_reason(std::string_view bytes);
// Finish: the caller is done with answer `question`.
std::string finish_message(std::uint32_t question);

// A raw TCP connection to "host:port"; -1 on failure.
int connect_raw(const std::string& address);
// Writes all of `bytes` (blocking); false if the socket failed.
bool write_all(int fd, std::string_view bytes);
// Whether the peer closed `fd` (EOF or reset) within `timeout_ms`; data it
// sends meanwhile is read and dropped.
bool closed_by_peer(int fd, int timeout_ms);

// Whether the peer closed or reset `fd` within `timeout_ms`, seen without
// reading (what it sent stays unread).
bool hung_up(int fd, int timeout_ms);

}  // namespace discache::testing
