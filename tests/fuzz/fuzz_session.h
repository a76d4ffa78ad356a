// One node connection served in-process, as discache-node serves an accepted
// socket, with a peer end a test can write to: what the fuzz target and the
// corpus capture share.
#pragma once

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <cstdint>
#include <string>

#include "node_context.h"
#include "node_loop.h"

namespace discache::fuzz {

// Event-loop thread only (the caller's kj::EventLoop). Owns a one-loop node
// with a small store and serves node::serve_connection() on one end of an
// in-memory pipe; the other end is `peer()`.
class FuzzSession {
 public:
  FuzzSession();
  ~FuzzSession();
  KJ_DISALLOW_COPY(FuzzSession);

  // The client's end of the connection.
  kj::AsyncIoStream& peer() { return *peer_; }
  // Writes `bytes` to the node, then ends the stream (EOF), while reading
  // and dropping every answer; resolves when the node has closed its end.
  kj::Promise<void> send_all_and_close(kj::ArrayPtr<const kj::byte> bytes);
  // Whether serve_connection() has resolved.
  bool ended() const { return ended_; }

 private:
  kj::Promise<void> drain_answers();

  kj::TimerImpl timer_;
  node::NodeContext ctx_;
  node::NodeLoop loop_;
  kj::Own<kj::AsyncIoStream> peer_;
  kj::Promise<void> served_;
  bool ended_ = false;
  kj::byte sink_[65536];
};

}  // namespace discache::fuzz
