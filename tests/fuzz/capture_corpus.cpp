// Writes the fuzz target's seed corpus: the bytes a real client connection
// (NodeConnection: bootstrap and login, then get, put, delete, has, batch,
// stats, members, watch) sends to a node, captured from an in-process node,
// plus structure-aware seeds (Node call parameters as messages).
// Usage: fuzz-capture-corpus DIR   (tests/fuzz/corpus is committed).
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <fstream>
#include <iostream>
#include <string>

#include "discache.capnp.h"
#include "fuzz_session.h"
#include "node_connection.h"

namespace {

using discache::fuzz::FuzzSession;
namespace wire = discache::wire;

// Passes everything through to the session's peer end, keeping a copy of
// what the client writes.
class RecordingStream final : public kj::AsyncIoStream {
 public:
  RecordingStream(kj::AsyncIoStream& inner, std::string& written)
      : inner_(inner), written_(written) {}
  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    return inner_.tryRead(buffer, min_bytes, max_bytes);
  }
  kj::Promise<void> write(const void* buffer, size_t size) override {
    written_.append(static_cast<const char*>(buffer), size);
    return inner_.write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    for (auto piece : pieces) {
      written_.append(reinterpret_cast<const char*>(piece.begin()), piece.size());
    }
    return inner_.write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_.whenWriteDisconnected(); }
  void shutdownWrite() override { inner_.shutdownWrite(); }

 private:
  kj::AsyncIoStream& inner_;
  std::string& written_;
};

capnp::Data::Reader bytes(kj::StringPtr text) {
  return text.asBytes();
}

class NullWatcher final : public wire::MemberWatcher::Server {};

// Runs `session_calls` on a logged-in client connection; returns its bytes.
template <typename Calls>
std::string capture(Calls&& session_calls) {
  kj::EventLoop loop;
  kj::WaitScope wait_scope(loop);
  FuzzSession session;
  std::string written;
  {
    discache::NodeConnection connection(kj::heap<RecordingStream>(session.peer(), written), "",
                                        "corpus-capture");
    auto node = connection.node();
    session_calls(node).wait(wait_scope);
  }
  wait_scope.poll();
  return written;
}

void save(const std::string& dir, const std::string& name, char mode, const std::string& body) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out << mode << body;
  std::cout << dir << "/" << name << ": " << body.size() + 1 << " bytes\n";
}

std::string flat(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);  // kept: `b` points into it
  auto b = words.asBytes();
  return std::string(reinterpret_cast<const char*>(b.begin()), b.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz-capture-corpus DIR\n";
    return 2;
  }
  const std::string dir = argv[1];

  save(dir, "login-get", 0, capture([](wire::Node::Client& node) {
         auto get = node.getRequest();
         get.setKey(bytes("k"));
         return get.send().ignoreResult();
       }));
  save(dir, "login-put-get-delete-has", 0, capture([](wire::Node::Client& node) {
         auto put = node.putRequest();
         put.setKey(bytes("key"));
         put.setValue(bytes("value"));
         put.initOptions().setTtlMs(30000);
         auto get = node.getRequest();
         get.setKey(bytes("key"));
         auto del = node.deleteRequest();
         del.setKey(bytes("key"));
         auto has = node.hasRequest();
         has.setKey(bytes("key"));
         return put.send().ignoreResult().then(
             [get = kj::mv(get), del = kj::mv(del), has = kj::mv(has)]() mutable {
               return kj::joinPromises(kj::arr(get.send().ignoreResult(), del.send().ignoreResult(),
                                               has.send().ignoreResult()));
             });
       }));
  save(dir, "login-batch", 0, capture([](wire::Node::Client& node) {
         auto batch = node.batchRequest();
         auto ops = batch.initOps(5);
         ops[0].setKey(bytes("a"));
         auto put = ops[0].initPut();
         put.setValue(bytes("1"));
         put.initOptions().setMode(wire::PutMode::IF_ABSENT);
         ops[1].setKey(bytes("a"));
         ops[1].setGet();
         ops[2].setKey(bytes("b"));
         auto cas = ops[2].initPut();
         cas.setValue(bytes("2"));
         cas.initOptions().setMode(wire::PutMode::COMPARE_AND_SET);
         ops[3].setKey(bytes("a"));
         ops[3].setDelete();
         ops[3].setVersion(7);
         ops[4].setKey(bytes("b"));
         ops[4].setHas();
         return batch.send().ignoreResult();
       }));
  save(dir, "login-stats-members-watch", 0, capture([](wire::Node::Client& node) {
         auto watch = node.watchRequest();
         watch.setWatcher(kj::heap<NullWatcher>());
         return kj::joinPromises(kj::arr(node.statsRequest().send().ignoreResult(),
                                         node.membersRequest().send().ignoreResult(),
                                         watch.send().ignoreResult()));
       }));

  // Structure-aware seeds: mode 1, the method's ordinal, its parameters.
  {
    capnp::MallocMessageBuilder m;
    auto ops = m.initRoot<wire::Node::BatchParams>().initOps(3);
    ops[0].setKey(bytes("x"));
    ops[0].initPut().setValue(bytes("y"));
    ops[1].setKey(bytes("x"));
    ops[1].setGet();
    ops[2].setKey(bytes("x"));
    ops[2].setDelete();
    save(dir, "call-batch", 1, std::string(1, '\x04') + flat(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto put = m.initRoot<wire::Node::PutParams>();
    put.setKey(bytes("x"));
    put.setValue(bytes("some value"));
    put.initOptions().setVersion(42);
    save(dir, "call-put", 1, std::string(1, '\x01') + flat(m));
  }
  {
    // Regression: an empty value reached memcpy with a null pointer.
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::Node::PutParams>().setKey(bytes("empty"));
    save(dir, "call-put-empty-value", 1, std::string(1, '\x01') + flat(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto gossip = m.initRoot<wire::Node::GossipParams>();
    gossip.setFrom("peer");
    auto list = gossip.initList();
    list.setEpoch(3);
    auto members = list.initMembers(1);
    members[0].setName("peer");
    members[0].setAddress("127.0.0.1:7401");
    save(dir, "call-gossip", 1, std::string(1, '\x08') + flat(m));
  }
  return 0;
}
