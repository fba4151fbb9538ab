// serving.h: what the C++ hash server does besides the lesson, as serving.py does for the
// Python servers: it parses the bytes of each request itself, and it has its own health
// checking and reflection services (serving.cc). Not part of the lesson.
//
// Why not gRPC C++'s own parsing and services: bytes that are not a message must get
// INVALID_ARGUMENT, with a message saying so, on every RPC; and a stream with such a message
// anywhere must fail as a whole. Behind gRPC's typed methods they get INTERNAL, and a stream
// message that does not parse ends the stream as if the caller had closed it (status OK).
// gRPC C++'s built-in health service answers a malformed Watch with INTERNAL, and its
// reflection plugin ends such a stream with OK. So every method here takes raw bytes and
// parses its requests with Parse() below.

#ifndef FILE_HASH_SERVICE_SERVING_H_
#define FILE_HASH_SERVICE_SERVING_H_

#include <google/protobuf/message.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace serving {

// The request in `bytes` (or, for a `number` from 1 on, message `number` of the request
// stream), parsed into `message`. Bytes that are not such a message get INVALID_ARGUMENT:
// "the request is not a ShaRequest (its bytes do not decode)", as the Python servers say it.
// Parsing uses the bytes up (a big chunk's memory is given back at once).
grpc::Status Parse(grpc::ByteBuffer* bytes, google::protobuf::Message* message,
                   uint64_t number = 0);

// The same, for bytes that gRPC lends us (`const`): it parses a copy that shares them.
grpc::Status Parse(const grpc::ByteBuffer& bytes, google::protobuf::Message* message,
                   uint64_t number = 0);

// `message` as bytes, for a raw method's answer (what `bytes` held before is dropped).
grpc::Status Serialize(const google::protobuf::Message& message, grpc::ByteBuffer* bytes);

class HealthService;      // grpc.health.v1.Health (serving.cc)
class ReflectionService;  // grpc.reflection.v1alpha.ServerReflection (serving.cc)

// Health checking and reflection, served through gRPC C++'s generic API (register it with
// ServerBuilder::RegisterCallbackGenericService): each call comes with its method's path
// and raw bytes. So the build compiles only the messages of health.proto and
// reflection.proto, not gRPC's service stubs for them. A method the server does not
// know, of any service, gets UNIMPLEMENTED, as gRPC answers it.
//
// Health: "" (the server as a whole) and each service named are SERVING until Shutdown().
// Check and List answer at once; Watch sends the status, then again whenever it changes,
// and lasts until the caller ends the call or the server stops.
// Reflection: the services' names, and the descriptors of the .proto files compiled into
// the program (hash.proto and those of serving_protos/), so that grpcurl and the kit's
// tools work without the .proto files.
class HealthAndReflection final : public grpc::CallbackGenericService {
 public:
  // `services`: the lesson's (full names); health checking and reflection are listed too.
  explicit HealthAndReflection(const std::vector<std::string>& services);
  ~HealthAndReflection() override;

  // The server stops: every service is NOT_SERVING from now on. Each Watch call hears it,
  // then ends (UNAVAILABLE), so that none holds up the server's Shutdown(): call this first.
  void Shutdown();

  // One call, to the method at context->method() ("/grpc.health.v1.Health/Check", ...).
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<ReflectionService> reflection_;
};

}  // namespace serving

#endif  // FILE_HASH_SERVICE_SERVING_H_
