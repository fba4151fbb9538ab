// hash_service.cpp: the hash service of the lecture, in C++. It computes SHA-256 for
// whoever calls it: here the Python file service (file_service.py).
//
// Build it (see README.md):  cmake -S . -B build && cmake --build build -j 2
// Run it:                    build/hash_service            (--host, --port as hash_service.py)

#include <openssl/evp.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "hash.grpc.pb.h"  // generated from hash.proto at build time

using filehash::Chunk;
using filehash::HashService;
using filehash::ShaReply;
using filehash::ShaRequest;

namespace {

constexpr int kDefaultPort = 50051;

// A running SHA-256 through OpenSSL's EVP API: feed it bytes, then ask for the digest.
// (The class frees the OpenSSL context when it goes out of scope, whatever happens.)
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const std::string& data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
    size_ += data.size();
  }

  uint64_t size() const { return size_; }

  // The digest as 64 lowercase hex digits, as sha256sum and Python's hexdigest() print it.
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, digest, &length);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
      hex += kHex[digest[i] >> 4];
      hex += kHex[digest[i] & 0xf];
    }
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
  uint64_t size_ = 0;
};

// Our implementation of the HashService that protoc generated for us.
class HashServiceImpl final : public HashService::Service {
 public:
  // Unary: the whole input in one message (at most 4 MB, gRPC's default limit).
  grpc::Status Sha(grpc::ServerContext* /*context*/, const ShaRequest* request,
                   ShaReply* reply) override {
    // BEGIN SOLUTION Hash request->data() with Sha256 and fill in the reply's digest and size.
    Sha256 sha;
    sha.Update(request->data());
    reply->set_hex_digest(sha.HexDigest());
    reply->set_size(sha.size());
    return grpc::Status::OK;
    // END SOLUTION
  }

  // Client streaming: read chunks until the caller says it is done, hashing as they come.
  grpc::Status ShaStream(grpc::ServerContext* context, grpc::ServerReader<Chunk>* reader,
                         ShaReply* reply) override {
    // BEGIN SOLUTION Read every Chunk from the reader into one Sha256, then fill in the reply.
    // The sender does not wait for us: HTTP/2 flow control lets the next chunks be on
    // their way while we hash this one.
    Sha256 sha;
    Chunk chunk;
    while (reader->Read(&chunk)) {  // false: the stream ended (or the call was cancelled)
      sha.Update(chunk.data());
    }
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the call");
    }
    reply->set_hex_digest(sha.HexDigest());
    reply->set_size(sha.size());
    return grpc::Status::OK;
    // END SOLUTION
  }
};

// --- stopping on Ctrl+C / SIGTERM -------------------------------------------------------
// A signal handler may only do async-signal-safe things: calling Shutdown() there could
// deadlock. So the handler writes the signal's number into a pipe (the "self-pipe trick")
// and main() waits on the other end, then shuts the server down calmly.
int signal_pipe[2] = {-1, -1};

void OnSignal(int signum) {
  const unsigned char byte = static_cast<unsigned char>(signum);
  ssize_t ignored = write(signal_pipe[1], &byte, 1);
  (void)ignored;
}

void CatchStopSignals() {
  if (pipe(signal_pipe) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int WaitForStopSignal() {
  unsigned char byte = 0;
  while (read(signal_pipe[0], &byte, 1) != 1) {
    if (errno != EINTR) return SIGTERM;
  }
  return byte;
}

// --- command line -------------------------------------------------------------------------
struct Options {
  std::string host = "[::]";
  int port = kDefaultPort;
};

[[noreturn]] void Usage(const char* program, const std::string& error) {
  std::ostream& out = error.empty() ? std::cout : std::cerr;
  out << "usage: " << program << " [--host HOST] [--port PORT]\n\n"
      << "Hash server (file_hash_service lab, C++)\n\n"
      << "  --host HOST  address to listen on (default: all)\n"
      << "  --port PORT  port to listen on, 0 for any free port (default: " << kDefaultPort
      << ")\n";
  if (!error.empty()) out << program << ": error: " << error << "\n";
  std::exit(error.empty() ? 0 : 2);
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const auto equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {  // --port=50051
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
    } else if ((arg == "--host" || arg == "--port") && i + 1 < argc) {  // --port 50051
      value = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      Usage(argv[0], "");
    } else {
      Usage(argv[0], arg == "--host" || arg == "--port" ? arg + " needs a value"
                                                         : "unknown argument " + arg);
    }
    if (arg == "--host") {
      options.host = value;
    } else if (arg == "--port") {
      char* end = nullptr;
      const long port = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || port < 0 || port > 65535) {
        Usage(argv[0], "--port: not a port number (0-65535): " + value);
      }
      options.port = static_cast<int>(port);
    } else {
      Usage(argv[0], "unknown argument " + arg);
    }
  }
  return options;
}

// Speed, on Linux with glibc: gRPC allocates a fresh buffer for every piece of a chunk
// it reads from the network. glibc hands out big blocks as new memory mappings, and the
// kernel zero-fills each 4 KB page of those on first touch and unmaps them on free:
// some 250,000 page faults per GiB hashed. Keeping big blocks in the heap lets them be
// reused instead. (macOS's allocator needs no such hint.)
void KeepBigBuffersInTheHeap() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // blocks up to 32 MB come from the heap
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);  // and the heap keeps 64 MB of free space
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  KeepBigBuffersInTheHeap();
  const std::string address = options.host + ":" + std::to_string(options.port);

  HashServiceImpl service;
  // Health checking and reflection, as the Python servers have:
  // `grpcurl -plaintext localhost:50051 list` works without the .proto file.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // so_reuseport 0: a second server on the same port fails loudly instead of silently
  // sharing the port with the first one (gRPC's default on Linux).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Only use an insecure port for testing: no TLS. Port 0 asks for any free port;
  // gRPC writes the one we got into selected_port when the server starts.
  int selected_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || selected_port == 0) {
    std::cerr << "Cannot listen on " << address << ". Is another server using that port? "
              << "Stop it, or start this one with --port 0 for a free port." << std::endl;
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(HashService::service_full_name(), true);
  CatchStopSignals();
  std::cerr << "Server started on port " << selected_port << std::endl;

  const int signum = WaitForStopSignal();
  std::cerr << "Received " << (signum == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping the server..." << std::endl;
  // Calls in flight get one second to finish, then they are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  std::cerr << "Server stopped" << std::endl;
  return 0;
}
