#include "raw_rpc.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POLLRDHUP
#endif
#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>

#include "discache.capnp.h"

namespace discache::testing {
namespace {

std::string flat(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

capnp::Data::Reader data_of(std::string_view text) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(text.data()), text.size());
}

}  // namespace

std::string bootstrap_message(std::uint32_t question) {
  capnp::MallocMessageBuilder message;
  message.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(question);
  return flat(message);
}

std::string login_message(std::uint32_t question, std::uint32_t bootstrap_question,
                          std::string_view cookie) {
  capnp::MallocMessageBuilder message;
  auto call = message.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  call.initTarget().initPromisedAnswer().setQuestionId(bootstrap_question);
  call.setInterfaceId(capnp::typeId<wire::Gate>());
  call.setMethodId(0);  // login @0
  auto params = call.initParams().getContent().initAs<wire::Gate::LoginParams>();
  params.setCookie(data_of(cookie));
  params.setClientName("raw-rpc-test");
  return flat(message);
}

std::string get_message(std::uint32_t question, std::uint32_t login_question,
                        std::string_view key) {
  capnp::MallocMessageBuilder message;
  auto call = message.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  auto target = call.initTarget().initPromisedAnswer();
  target.setQuestionId(login_question);
  target.initTransform(1)[0].setGetPointerField(0);  // LoginResults.node
  call.setInterfaceId(capnp::typeId<wire::Node>());
  call.setMethodId(0);  // get @0
  call.initParams().getContent().initAs<wire::Node::GetParams>().setKey(data_of(key));
  return flat(message);
}

std::string batch_put_message(std::uint32_t question, std::uint32_t login_question,
                              std::string_view key_prefix, std::size_t ops,
                              std::size_t value_bytes) {
  // One first segment large enough for everything: a flat, single-segment frame.
  capnp::MallocMessageBuilder message(ops * (value_bytes / 8 + 16) + 64);
  auto call = message.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  auto target = call.initTarget().initPromisedAnswer();
  target.setQuestionId(login_question);
  target.initTransform(1)[0].setGetPointerField(0);  // LoginResults.node
  call.setInterfaceId(capnp::typeId<wire::Node>());
  call.setMethodId(4);  // batch @4
  auto list = call.initParams().getContent().initAs<wire::Node::BatchParams>().initOps(
      static_cast<unsigned>(ops));
  const std::string value(value_bytes, 'v');
  for (unsigned i = 0; i < ops; ++i) {
    const std::string key = std::string(key_prefix) + std::to_string(i);
    list[i].setKey(data_of(key));
    list[i].initPut().setValue(data_of(value));
  }
  return flat(message);
}

std::string batch_get_message(std::uint32_t question, std::uint32_t login_question,
                              std::string_view key_prefix, std::size_t ops,
                              std::size_t distinct_keys) {
  capnp::MallocMessageBuilder message(ops * 8 + 64);
  auto call = message.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  auto target = call.initTarget().initPromisedAnswer();
  target.setQuestionId(login_question);
  target.initTransform(1)[0].setGetPointerField(0);  // LoginResults.node
  call.setInterfaceId(capnp::typeId<wire::Node>());
  call.setMethodId(4);  // batch @4
  auto list = call.initParams().getContent().initAs<wire::Node::BatchParams>().initOps(
      static_cast<unsigned>(ops));
  for (unsigned i = 0; i < ops; ++i) {
    const std::string key = std::string(key_prefix) + std::to_string(i % distinct_keys);
    list[i].setKey(data_of(key));
    list[i].setGet();
  }
  return flat(message);
}

std::size_t question_offset(std::string_view message, std::uint32_t question) {
  const char id[4] = {static_cast<char>(question & 0xff), static_cast<char>((question >> 8) & 0xff),
                      static_cast<char>((question >> 16) & 0xff),
                      static_cast<char>((question >> 24) & 0xff)};
  return message.find(std::string_view(id, 4));
}

std::string abort_reason(std::string_view bytes) {
  if (bytes.size() < 8 || bytes.size() % 8 != 0) {
    return "";
  }
  try {
    auto aligned = kj::heapArray<capnp::word>(bytes.size() / 8);
    memcpy(aligned.begin(), bytes.data(), bytes.size());
    kj::ArrayPtr<const capnp::word> words = aligned;
    // The node's answers come before the Abort: skip whole messages until it.
    while (words.size() > 0) {
      const std::size_t size = capnp::expectedSizeInWordsFromPrefix(words);
      if (size > words.size()) {
        return "";
      }
      capnp::FlatArrayMessageReader reader(words.slice(0, size));
      auto root = reader.getRoot<capnp::rpc::Message>();
      if (root.isAbort()) {
        return root.getAbort().getReason().cStr();
      }
      words = words.slice(size, words.size());
    }
  } catch (const kj::Exception&) {
  }
  return "";
}

std::string finish_message(std::uint32_t question) {
  capnp::MallocMessageBuilder message;
  message.initRoot<capnp::rpc::Message>().initFinish().setQuestionId(question);
  return flat(message);
}

int connect_raw(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool closed_by_peer(int fd, int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char sink[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) {
      continue;  // timeout (checked above) or EINTR
    }
    const ssize_t n = recv(fd, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      return true;
    }
  }
}

bool hung_up(int fd, int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      return false;
    }
    pollfd p{fd, POLLRDHUP, 0};
    if (poll(&p, 1, static_cast<int>(left.count()) + 1) > 0 &&
        (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      return true;
    }
  }
}

}  // namespace discache::testing
