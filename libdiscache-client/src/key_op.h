// One key operation on its way from a caller to a node and back.
#pragma once

#include <discache/client.hpp>
#include <expected>
#include <functional>
#include <string>

#include "queued_bytes.h"
#include "writes_in_flight.h"

namespace discache::detail {

// Owns its completion and guarantees it runs exactly once: if the op is
// dropped unanswered (client shutting down), it completes with unavailable.
class KeyOp {
 public:
  KeyOp(OpKind kind, std::string key, std::string value, PutOptions options, OpCompletion done)
      : kind_(kind),
        key_(std::move(key)),
        value_(std::move(value)),
        options_(options),
        done_(std::move(done)) {}
  KeyOp(KeyOp&&) noexcept = default;
  KeyOp& operator=(KeyOp&&) noexcept = default;
  ~KeyOp() {
    if (done_) {
      done_(std::unexpected(Error{Errc::unavailable, "client is shutting down"}));
    }
  }

  OpKind kind() const { return kind_; }
  const std::string& key() const { return key_; }
  const std::string& value() const { return value_; }
  const PutOptions& options() const { return options_; }
  std::size_t wire_bytes() const { return key_.size() + value_.size() + 64; }
  // Keeps the write counted in flight for as long as this op lives (the
  // I/O thread keeps it until every replica answered).
  void hold(WritesInFlight::Token token) { in_flight_ = std::move(token); }
  // Keeps the op's bytes counted against ClientOptions::max_queued_bytes.
  void hold_bytes(QueuedBytes::Token token) { queued_ = std::move(token); }

  // Runs the completion (on the client's I/O thread); later calls do nothing.
  void complete(OpResult result) {
    if (done_) {
      auto done = std::move(done_);
      done_ = nullptr;
      queued_ = QueuedBytes::Token();  // its room is free once its caller hears back
      done(std::move(result));
    }
  }

 private:
  OpKind kind_;
  std::string key_;
  std::string value_;
  PutOptions options_;
  OpCompletion done_;
  WritesInFlight::Token in_flight_;
  QueuedBytes::Token queued_;
};

}  // namespace discache::detail
