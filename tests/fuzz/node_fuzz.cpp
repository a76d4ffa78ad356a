// libFuzzer target: arbitrary bytes through a node's connection handling,
// the same code discache-node runs for an accepted socket (coalescing
// stream, ConnectionGuard, Cap'n Proto RPC, Gate, Node operations on an
// ItemStore), over an in-memory pipe.
//
// The first input byte picks the mode:
// - even: the rest is written to the node as raw bytes (frames as a client
//   sends them; the seed corpus holds real client sessions), then EOF;
// - odd: structure-aware. The second byte picks a Node method; the rest is
//   read as a Cap'n Proto message whose root becomes that call's
//   parameters, sent after a real bootstrap and login. Mutations then land
//   inside well-formed calls (odd keys, values, op lists, member lists)
//   instead of breaking the framing.
//
// Run it with tests/fuzz/run_fuzz.sh (README, "Fuzzing").
#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "discache.capnp.h"
#include "fuzz_session.h"

namespace {

using discache::fuzz::FuzzSession;

void append(std::string& out, capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);  // kept: `bytes` points into it
  auto bytes = words.asBytes();
  out.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Bootstrap (question 0) and Gate.login (question 1), as the client sends them.
std::string login_frames() {
  std::string out;
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(0);
    append(out, m);
  }
  capnp::MallocMessageBuilder m;
  auto call = m.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(1);
  call.initTarget().initPromisedAnswer().setQuestionId(0);
  call.setInterfaceId(capnp::typeId<discache::wire::Gate>());
  call.setMethodId(0);
  call.initParams().getContent().initAs<discache::wire::Gate::LoginParams>().setClientName("fuzz");
  append(out, m);
  return out;
}

// A call of Node method `method` on the logged-in Node whose parameters are
// the root of `message` (copied, so the copy checks it); empty if the input
// is no readable message.
std::string node_call_frames(std::uint16_t method, const std::uint8_t* data, size_t size) {
  if (size < 8) {
    return {};
  }
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  memcpy(words.begin(), data, words.size() * sizeof(capnp::word));
  std::string out;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 capnp::ReaderOptions options;
                 options.traversalLimitInWords = 1 << 20;
                 options.nestingLimit = 16;
                 capnp::FlatArrayMessageReader input(words, options);
                 capnp::MallocMessageBuilder m;
                 auto call = m.initRoot<capnp::rpc::Message>().initCall();
                 call.setQuestionId(2);
                 auto target = call.initTarget().initPromisedAnswer();
                 target.setQuestionId(1);
                 target.initTransform(1)[0].setGetPointerField(0);  // LoginResults.node
                 call.setInterfaceId(capnp::typeId<discache::wire::Node>());
                 call.setMethodId(method);
                 call.initParams().getContent().set(input.getRoot<capnp::AnyPointer>());
                 append(out, m);
                 capnp::MallocMessageBuilder finish;
                 finish.initRoot<capnp::rpc::Message>().initFinish().setQuestionId(2);
                 append(out, finish);
               })) {
    (void)e;
    return {};
  }
  return out;
}

void serve_bytes(const std::string& bytes) {
  kj::EventLoop loop;
  kj::WaitScope wait_scope(loop);
  FuzzSession session;
  auto done = session.send_all_and_close(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
  // Everything here is in memory: once no event is left, the node has done
  // all it will do with this input.
  wait_scope.poll();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  if ((mode & 1) == 0) {
    serve_bytes(std::string(reinterpret_cast<const char*>(data), size));
    return 0;
  }
  if (size == 0) {
    return 0;
  }
  static const unsigned kMethods = capnp::Schema::from<discache::wire::Node>().getMethods().size();
  const auto method = static_cast<std::uint16_t>(data[0] % kMethods);
  auto call = node_call_frames(method, data + 1, size - 1);
  if (!call.empty()) {
    serve_bytes(login_frames() + call);
  }
  return 0;
}
