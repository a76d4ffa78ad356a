// A TCP port on 127.0.0.1 that this process holds, so no node can take it:
// a known-dead or known-silent address for failure tests.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

namespace discache::testing {

// Owns one socket; the port is free again when the object is destroyed.
// Threads: any, but not concurrently with destruction.
class HeldPort {
 public:
  enum class Mode {
    refuse,  // bound but not listening: every connect is refused at once
    silent,  // listening but never accepting: connects succeed, nothing answers
  };

  static std::expected<HeldPort, std::string> open(Mode mode);

  HeldPort(HeldPort&& other) noexcept;
  HeldPort& operator=(HeldPort&& other) noexcept;
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  ~HeldPort();

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT"
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  HeldPort(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace discache::testing
