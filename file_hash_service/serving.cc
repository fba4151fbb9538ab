// serving.cc: the C++ hash server's parsing of raw requests, and its own health checking
// and reflection services. serving.h says why; gRPC C++'s own are in grpc's
// src/cpp/server/health/default_health_check_service.cc and
// src/cpp/ext/proto_server_reflection.cc, and these answer as those do, but for bytes
// that are not a message.
//
// They are served through gRPC C++'s generic API, which hands over every call as a stream
// of raw bytes both ways, with its method's path. That needs no service stubs from
// grpc_cpp_plugin: the build compiles only the messages of the two protos. (With the stubs,
// a cold build took some 1.7 times as long.)

#include "serving.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

// gRPC's protobuf (de)serializer, grpc::SerializationTraits<Message>: newer gRPC has it
// here, older (such as Debian 12's 1.51) under impl/codegen/.
#if __has_include(<grpcpp/impl/proto_utils.h>)
#include <grpcpp/impl/proto_utils.h>
#else
#include <grpcpp/impl/codegen/proto_utils.h>
#endif

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_set>
#include <utility>

// generated at build time from serving_protos/ (copies of gRPC's own protos): the
// messages only
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace serving {

namespace health_v1 = grpc::health::v1;
namespace reflection_v1alpha = grpc::reflection::v1alpha;

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using health_v1::HealthCheckResponse;
using reflection_v1alpha::ServerReflectionRequest;
using reflection_v1alpha::ServerReflectionResponse;

namespace {

// The services' full names, and the paths by which calls name their methods.
constexpr char kHealth[] = "grpc.health.v1.Health";
constexpr char kReflection[] = "grpc.reflection.v1alpha.ServerReflection";
constexpr char kCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kList[] = "/grpc.health.v1.Health/List";
constexpr char kWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kServerReflectionInfo[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

}  // namespace

// --- raw bytes ---------------------------------------------------------------------------

grpc::Status Parse(grpc::ByteBuffer* bytes, google::protobuf::Message* message,
                   uint64_t number) {
  if (grpc::SerializationTraits<google::protobuf::Message>::Deserialize(bytes, message).ok()) {
    return grpc::Status::OK;
  }
  const std::string what = number == 0 ? "the request"
                                        : "message " + std::to_string(number) +
                                              " of the request stream";
  // std::string(...): newer protobuf names things with a string_view
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      what + " is not a " + std::string(message->GetDescriptor()->name()) +
                          " (its bytes do not decode)");
}

grpc::Status Parse(const grpc::ByteBuffer& bytes, google::protobuf::Message* message,
                   uint64_t number) {
  grpc::ByteBuffer copy(bytes);
  return Parse(&copy, message, number);
}

grpc::Status Serialize(const google::protobuf::Message& message, grpc::ByteBuffer* bytes) {
  // gRPC's serializer writes into an empty buffer only (it aborts the program otherwise),
  // and a stream writes each answer from the same one.
  bytes->Clear();
  bool own_buffer = false;
  return grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, bytes,
                                                                         &own_buffer);
}

// --- a unary call, through the generic API -----------------------------------------------

namespace {

// Read the one request, answer it, finish. `answer` turns the request's bytes into the
// reply's bytes, or says why not.
class UnaryCall final : public grpc::ServerGenericBidiReactor {
 public:
  using Answer = std::function<grpc::Status(grpc::ByteBuffer* request_bytes,
                                            grpc::ByteBuffer* reply_bytes)>;

  explicit UnaryCall(Answer answer) : answer_(std::move(answer)) {
    StartRead(&request_bytes_);
  }

  // Not ok: no request came (the caller closed its side at once, or went away); the
  // empty buffer then does not parse either: INVALID_ARGUMENT.
  void OnReadDone(bool /*ok*/) override {
    const grpc::Status status = answer_(&request_bytes_, &reply_bytes_);
    if (status.ok()) {
      StartWriteAndFinish(&reply_bytes_, grpc::WriteOptions(), status);
    } else {
      Finish(status);
    }
  }

  void OnDone() override { delete this; }

 private:
  Answer answer_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer reply_bytes_;
};

}  // namespace

// --- health checking ---------------------------------------------------------------------

class HealthService {
 public:
  explicit HealthService(const std::vector<std::string>& services);

  void Shutdown();  // as HealthAndReflection::Shutdown

  grpc::Status Check(grpc::ByteBuffer* request_bytes, grpc::ByteBuffer* reply_bytes);
  grpc::Status List(grpc::ByteBuffer* request_bytes, grpc::ByteBuffer* reply_bytes);
  grpc::ServerGenericBidiReactor* Watch();

 private:
  class Watcher;
  using ServingStatus = HealthCheckResponse::ServingStatus;

  void Add(Watcher* watcher);
  void Remove(Watcher* watcher);

  std::mutex mu_;  // guards what follows
  std::map<std::string, ServingStatus> statuses_;
  std::set<Watcher*> watchers_;  // the Watch calls going on
  bool stopping_ = false;
};

// One Watch call. It reads its request, then writes one status at a time (a stream allows
// one write in flight): a status that comes meanwhile waits in next_. Once the server
// stops, it finishes the call after its last write.
class HealthService::Watcher final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Watcher(HealthService* health) : health_(health) { StartRead(&request_bytes_); }

  const std::string& service() const { return service_; }

  // The request (not ok: none came, and the empty buffer does not parse).
  void OnReadDone(bool /*ok*/) override {
    health_v1::HealthCheckRequest request;
    const grpc::Status parsed = Parse(&request_bytes_, &request);
    if (!parsed.ok()) {
      End(parsed);
      return;
    }
    service_ = request.service();
    health_->Add(this);  // which sends the service's status
  }

  void Send(ServingStatus status) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = status;
    WriteOrFinish();
  }

  // Finish the call with `status`, once the statuses to send are sent.
  void End(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    end_ = status;
    WriteOrFinish();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {  // the call has ended: nothing more to write
      next_.reset();
      end_ = grpc::Status(grpc::StatusCode::CANCELLED, "the call has ended");
    }
    WriteOrFinish();
  }

  void OnCancel() override {  // the caller went away, or the server is stopping
    std::lock_guard<std::mutex> lock(mu_);
    next_.reset();
    end_ = grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
    WriteOrFinish();
  }

  void OnDone() override {
    health_->Remove(this);
    delete this;
  }

 private:
  void WriteOrFinish() {  // with mu_ held
    if (writing_ || finished_) return;
    if (next_) {
      HealthCheckResponse reply;
      reply.set_status(*next_);
      next_.reset();
      Serialize(reply, &reply_bytes_);
      writing_ = true;
      StartWrite(&reply_bytes_);
    } else if (end_) {
      finished_ = true;
      Finish(*end_);
    }
  }

  HealthService* health_;
  grpc::ByteBuffer request_bytes_;
  std::string service_;
  std::mutex mu_;  // guards what follows
  grpc::ByteBuffer reply_bytes_;
  std::optional<ServingStatus> next_;  // the status to write next
  std::optional<grpc::Status> end_;    // the call's status, once every status is written
  bool writing_ = false;
  bool finished_ = false;
};

namespace {

// How a Watch call ends when the server stops.
grpc::Status ServerStopping() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
}

}  // namespace

HealthService::HealthService(const std::vector<std::string>& services) {
  statuses_[""] = HealthCheckResponse::SERVING;  // "": the server as a whole
  for (const std::string& service : services) statuses_[service] = HealthCheckResponse::SERVING;
}

void HealthService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (auto& [service, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  for (Watcher* watcher : watchers_) {
    if (statuses_.count(watcher->service()) != 0) {
      watcher->Send(HealthCheckResponse::NOT_SERVING);
    }
    watcher->End(ServerStopping());
  }
}

grpc::Status HealthService::Check(grpc::ByteBuffer* request_bytes,
                                  grpc::ByteBuffer* reply_bytes) {
  health_v1::HealthCheckRequest request;
  const grpc::Status parsed = Parse(request_bytes, &request);
  if (!parsed.ok()) return parsed;
  std::lock_guard<std::mutex> lock(mu_);
  const auto found = statuses_.find(request.service());
  if (found == statuses_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  HealthCheckResponse reply;
  reply.set_status(found->second);
  return Serialize(reply, reply_bytes);
}

grpc::Status HealthService::List(grpc::ByteBuffer* request_bytes,
                                 grpc::ByteBuffer* reply_bytes) {
  health_v1::HealthListRequest request;
  const grpc::Status parsed = Parse(request_bytes, &request);
  if (!parsed.ok()) return parsed;
  health_v1::HealthListResponse reply;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [service, serving] : statuses_) {
    (*reply.mutable_statuses())[service].set_status(serving);
  }
  return Serialize(reply, reply_bytes);
}

grpc::ServerGenericBidiReactor* HealthService::Watch() {
  return new Watcher(this);  // it deletes itself when the call is done
}

void HealthService::Add(Watcher* watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.insert(watcher);
  const auto found = statuses_.find(watcher->service());
  // A service it does not know (yet): SERVICE_UNKNOWN, and the call goes on, as
  // health.proto says.
  watcher->Send(found == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                                          : found->second);
  if (stopping_) watcher->End(ServerStopping());
}

void HealthService::Remove(Watcher* watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(watcher);
}

// --- reflection --------------------------------------------------------------------------

class ReflectionService {
 public:
  explicit ReflectionService(const std::vector<std::string>& services);

  grpc::ServerGenericBidiReactor* ServerReflectionInfo();

 private:
  class Stream;

  ServerReflectionResponse Answer(const ServerReflectionRequest& request) const;

  std::vector<std::string> services_;
};

// One ServerReflectionInfo call: read a request, write its answer, read the next one, until
// the caller closes its side of the stream. A request that does not parse ends the call with
// INVALID_ARGUMENT, after the answers to the requests before it.
class ReflectionService::Stream final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Stream(const ReflectionService* reflection) : reflection_(reflection) {
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the caller closed its side of the stream, or the call has ended
      Finish(grpc::Status::OK);
      return;
    }
    ServerReflectionRequest request;
    grpc::Status status = Parse(&request_bytes_, &request, ++requests_);
    if (status.ok()) status = Serialize(reflection_->Answer(request), &reply_bytes_);
    if (!status.ok()) {
      Finish(status);
      return;
    }
    StartWrite(&reply_bytes_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call has ended"));
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnDone() override { delete this; }

 private:
  const ReflectionService* reflection_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer reply_bytes_;
  uint64_t requests_ = 0;
};

ReflectionService::ReflectionService(const std::vector<std::string>& services)
    : services_(services) {
  services_.push_back(kHealth);
  services_.push_back(kReflection);
}

grpc::ServerGenericBidiReactor* ReflectionService::ServerReflectionInfo() {
  return new Stream(this);  // it deletes itself when the call is done
}

namespace {

void SetError(ServerReflectionResponse* response, grpc::StatusCode code,
              const std::string& message) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(message);
}

// The descriptor of `file`, and those of the files it imports, all the way down.
void AddFileAndImports(const FileDescriptor* file, std::unordered_set<std::string>* added,
                       ServerReflectionResponse* response) {
  if (!added->insert(std::string(file->name())).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  file->CopyJsonNameTo(&proto);  // as protoc writes it (gRPC C++'s reflection leaves it out)
  response->mutable_file_descriptor_response()->add_file_descriptor_proto(
      proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileAndImports(file->dependency(i), added, response);
  }
}

void AnswerFile(const FileDescriptor* file, const std::string& not_found,
                ServerReflectionResponse* response) {
  if (file == nullptr) {
    SetError(response, grpc::StatusCode::NOT_FOUND, not_found);
    return;
  }
  std::unordered_set<std::string> added;
  AddFileAndImports(file, &added, response);
}

}  // namespace

ServerReflectionResponse ReflectionService::Answer(
    const ServerReflectionRequest& request) const {
  // The descriptors of every .proto file compiled into the program.
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kListServices:
      for (const std::string& service : services_) {
        response.mutable_list_services_response()->add_service()->set_name(service);
      }
      break;
    case ServerReflectionRequest::kFileByFilename:
      AnswerFile(pool->FindFileByName(request.file_by_filename()), "file not found", &response);
      break;
    case ServerReflectionRequest::kFileContainingSymbol:
      AnswerFile(pool->FindFileContainingSymbol(request.file_containing_symbol()),
                 "symbol not found", &response);
      break;
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& asked = request.file_containing_extension();
      const Descriptor* type = pool->FindMessageTypeByName(asked.containing_type());
      const FieldDescriptor* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(type, asked.extension_number());
      AnswerFile(extension == nullptr ? nullptr : extension->file(), "extension not found",
                 &response);
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const Descriptor* type =
          pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        SetError(&response, grpc::StatusCode::NOT_FOUND, "type not found");
        break;
      }
      std::vector<const FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const FieldDescriptor* extension : extensions) {
        numbers->add_extension_number(extension->number());
      }
      break;
    }
    default:  // none of the request's fields is set
      SetError(&response, grpc::StatusCode::INVALID_ARGUMENT,
               "the request asks for nothing: set one of its message_request fields");
  }
  return response;
}

// --- both, behind the generic API --------------------------------------------------------

HealthAndReflection::HealthAndReflection(const std::vector<std::string>& services)
    : health_(std::make_unique<HealthService>(services)),
      reflection_(std::make_unique<ReflectionService>(services)) {}

HealthAndReflection::~HealthAndReflection() = default;

void HealthAndReflection::Shutdown() { health_->Shutdown(); }

grpc::ServerGenericBidiReactor* HealthAndReflection::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  // Each reactor deletes itself when its call is done.
  HealthService* health = health_.get();
  const std::string& method = context->method();
  if (method == kCheck) {
    return new UnaryCall([health](grpc::ByteBuffer* request, grpc::ByteBuffer* reply) {
      return health->Check(request, reply);
    });
  }
  if (method == kList) {
    return new UnaryCall([health](grpc::ByteBuffer* request, grpc::ByteBuffer* reply) {
      return health->List(request, reply);
    });
  }
  if (method == kWatch) return health->Watch();
  if (method == kServerReflectionInfo) return reflection_->ServerReflectionInfo();
  // Any other method, of any service: UNIMPLEMENTED, as gRPC answers a method it does not
  // know.
  return grpc::CallbackGenericService::CreateReactor(context);
}

}  // namespace serving
