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
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "hash.grpc.pb.h"  // generated from hash.proto at build time
#include "serving.h"       // parsing raw requests; health checking and reflection

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

// --- the lesson: SHA-256 of one message, and of a stream of chunks -----------------------

// Unary: the whole input in one message (at most 4 MB, gRPC's default limit).
grpc::Status HashRequest(grpc::CallbackServerContext* /*context*/, const ShaRequest& request,
                         ShaReply* reply) {
  // BEGIN SOLUTION Hash request.data() with Sha256 and fill in the reply's digest and size.
  Sha256 sha;
  sha.Update(request.data());
  reply->set_hex_digest(sha.HexDigest());
  reply->set_size(sha.size());
  return grpc::Status::OK;
  // END SOLUTION
}

// Client streaming, one chunk at a time, as the chunks arrive: HashChunk for each chunk,
// then FinishHash once the caller has closed its side of the stream. The sender does not
// wait for us: HTTP/2 flow control lets the next chunks be on their way while we hash.
grpc::Status HashChunk(grpc::CallbackServerContext* /*context*/, const Chunk& chunk,
                       Sha256* sha) {
  // BEGIN SOLUTION Feed the chunk's data into the running Sha256.
  sha->Update(chunk.data());
  return grpc::Status::OK;
  // END SOLUTION
}

grpc::Status FinishHash(grpc::CallbackServerContext* /*context*/, Sha256* sha,
                        ShaReply* reply) {
  // BEGIN SOLUTION Fill in the reply's digest and size from the Sha256, as Sha does.
  reply->set_hex_digest(sha->HexDigest());
  reply->set_size(sha->size());
  return grpc::Status::OK;
  // END SOLUTION
}

// --- the service: raw bytes in, so that bytes that are not a message are seen ----------
// serving::Parse answers INVALID_ARGUMENT to them. gRPC's own parsing, behind the usual
// typed methods, would answer INTERNAL to a request that does not parse, and would take a
// chunk that does not parse for the end of the stream: status OK, with the digest of the
// chunks before it.

// --max-calls: the calls taken in at once. Past it a call is refused at once with
// RESOURCE_EXHAUSTED, rather than left waiting without a word.
std::atomic<int> calls_now{0};
int max_calls = 1000;

// A place among --max-calls for one call, for as long as the object lives.
class CallPlace {
 public:
  CallPlace() : taken_(++calls_now <= max_calls) {}
  ~CallPlace() { --calls_now; }
  CallPlace(const CallPlace&) = delete;
  CallPlace& operator=(const CallPlace&) = delete;
  bool taken() const { return taken_; }

 private:
  bool taken_;
};

grpc::Status ServerFull() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "the server is full: it takes " + std::to_string(max_calls) +
                          " calls at once (its --max-calls); try again in a moment");
}

// Hashes one ShaStream call: gRPC calls OnReadDone for each chunk that arrives (or, with
// ok == false, when there are no more), then OnDone when the call is over.
//
// Why a thread of its own for the hashing: gRPC receives the next chunk only after we ask
// for it (StartRead), and hashing a chunk in OnReadDone would keep gRPC from receiving
// while we hash. So OnReadDone parses each chunk and hands it to the call's hashing thread
// through a short queue, then asks for the next chunk at once: receiving and hashing then
// run side by side, on two cores (see README.md, "Benchmark"). When kChunksAhead chunks
// wait in the queue, we stop asking for more until the hashing thread has taken one: HTTP/2
// flow control then slows the sender down, and memory stays bounded.
class StreamHasher : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  StreamHasher(grpc::CallbackServerContext* context, grpc::ByteBuffer* reply_bytes)
      : context_(context), reply_bytes_(reply_bytes) {
    if (!place_.taken()) {
      Finish(ServerFull());
      return;
    }
    hashing_thread_ = std::thread([this] { HashChunks(); });
    StartRead(&chunk_bytes_);
  }

  void OnReadDone(bool ok) override {
    Step step;  // with ok == false, the end of the stream
    if (ok) {
      ++chunks_;
      step.chunk = std::make_unique<Chunk>();
      step.status = serving::Parse(&chunk_bytes_, step.chunk.get(), chunks_);
    }
    const bool more = ok && step.status.ok();  // a malformed chunk ends the call
    std::lock_guard<std::mutex> lock(mutex_);
    steps_.push_back(std::move(step));
    step_ready_.notify_one();
    if (more && !finished_) {
      if (steps_.size() < kChunksAhead) {
        StartRead(&chunk_bytes_);
      } else {
        reading_paused_ = true;  // the hashing thread asks for the next chunk
      }
    }
  }

  void OnDone() override {
    if (hashing_thread_.joinable()) hashing_thread_.join();  // it has called Finish
    delete this;
  }

 private:
  static constexpr size_t kChunksAhead = 4;  // chunks received but not hashed yet, at most

  // What OnReadDone hands to the hashing thread: a chunk, a malformed chunk's status, or
  // (no chunk, status OK) the end of the stream.
  struct Step {
    std::unique_ptr<Chunk> chunk;
    grpc::Status status;
  };

  // The hashing thread: hashes the chunks in order, then finishes the call.
  void HashChunks() {
    for (;;) {
      Step step = NextStep();
      if (!step.status.ok()) {
        EndCall(step.status);  // the whole call fails: never a digest of part of the input
        return;
      }
      if (!step.chunk) {  // the stream ended: the caller closed its side, or cancelled
        EndCall(Result());
        return;
      }
      const grpc::Status hashed = HashChunk(context_, *step.chunk, &sha_);
      if (!hashed.ok()) {
        EndCall(hashed);
        return;
      }
    }
  }

  // Waits for the next step from OnReadDone; asks gRPC for more chunks if reading paused.
  Step NextStep() {
    std::unique_lock<std::mutex> lock(mutex_);
    step_ready_.wait(lock, [this] { return !steps_.empty(); });
    Step step = std::move(steps_.front());
    steps_.pop_front();
    if (reading_paused_) {
      reading_paused_ = false;
      StartRead(&chunk_bytes_);
    }
    return step;
  }

  grpc::Status Result() {
    if (context_->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the call");
    }
    ShaReply reply;
    grpc::Status status = FinishHash(context_, &sha_, &reply);
    return status.ok() ? serving::Serialize(reply, reply_bytes_) : status;
  }

  // Finish, and ask for no more chunks after it (a read may still be on its way).
  void EndCall(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    Finish(status);
  }

  CallPlace place_;
  grpc::CallbackServerContext* context_;
  grpc::ByteBuffer* reply_bytes_;
  grpc::ByteBuffer chunk_bytes_;  // where gRPC puts the chunk it receives
  uint64_t chunks_ = 0;           // received so far (for the message of a malformed one)
  Sha256 sha_;                    // used by the hashing thread only

  std::mutex mutex_;  // guards the members below, shared by gRPC's threads and ours
  std::condition_variable step_ready_;
  std::deque<Step> steps_;
  bool reading_paused_ = false;
  bool finished_ = false;
  std::thread hashing_thread_;
};

// Our implementation of the HashService that protoc generated for us, with gRPC's
// callback API and raw methods: both take the message bytes as they came (ByteBuffer).
class HashServiceImpl final
    : public HashService::WithRawCallbackMethod_Sha<
          HashService::WithRawCallbackMethod_ShaStream<HashService::Service>> {
 public:
  grpc::ServerUnaryReactor* Sha(grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* request_bytes,
                                grpc::ByteBuffer* reply_bytes) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    CallPlace place;
    if (!place.taken()) {
      reactor->Finish(ServerFull());
      return reactor;
    }
    ShaRequest request;
    ShaReply reply;
    grpc::Status status = serving::Parse(*request_bytes, &request);
    if (status.ok()) status = HashRequest(context, request, &reply);
    reactor->Finish(status.ok() ? serving::Serialize(reply, reply_bytes) : status);
    return reactor;
  }

  grpc::ServerReadReactor<grpc::ByteBuffer>* ShaStream(grpc::CallbackServerContext* context,
                                                       grpc::ByteBuffer* reply_bytes) override {
    return new StreamHasher(context, reply_bytes);  // it deletes itself when the call is done
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
// The flags of the Python servers that mean something here (there is no pool of worker
// threads to size: gRPC's callback API runs each call on gRPC's own threads).
struct Options {
  std::string host = "[::]";
  int port = kDefaultPort;
};

[[noreturn]] void Usage(const char* program, const std::string& error) {
  if (!error.empty()) {  // one line, as the Python servers say it
    std::cerr << program << ": error: " << error << std::endl;
    std::exit(2);
  }
  std::cout << "usage: " << program << " [--host HOST] [--port PORT] [--max-calls N]\n\n"
            << "Hash server (file_hash_service lab, C++)\n\n"
            << "  --host HOST    address to listen on (default: [::], every address)\n"
            << "  --port PORT    port to listen on, 0 for any free port (default: "
            << kDefaultPort << ")\n"
            << "  --max-calls N  calls taken in at once; more are refused with\n"
            << "                 RESOURCE_EXHAUSTED (default: " << max_calls << ")\n";
  std::exit(0);
}

// The whole number in `value`, from low to high; else the usage error, naming the flag.
int WholeNumber(const char* program, const std::string& flag, const std::string& value,
                long low, long high) {
  char* end = nullptr;
  errno = 0;
  const long number = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || number < low || number > high) {
    Usage(program, "argument " + flag + ": must be a whole number from " +
                       std::to_string(low) + " to " + std::to_string(high) + ", got '" +
                       value.substr(0, 40) + "'");
  }
  return static_cast<int>(number);
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const bool takes_value = arg == "--host" || arg == "--port" || arg == "--max-calls";
    const auto equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {  // --port=50051
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
    } else if (takes_value && i + 1 < argc) {  // --port 50051
      value = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      Usage(argv[0], "");
    } else {
      Usage(argv[0], takes_value ? "argument " + arg + ": expected one argument"
                                 : "unrecognized arguments: " + arg);
    }
    if (arg == "--host") {
      if (value.empty()) Usage(argv[0], "argument --host: must be an address, got ''");
      options.host = value;
    } else if (arg == "--port") {
      options.port = WholeNumber(argv[0], arg, value, 0, 65535);
    } else if (arg == "--max-calls") {
      max_calls = WholeNumber(argv[0], arg, value, 1, 10000);
    } else {
      Usage(argv[0], "unrecognized arguments: " + arg);
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

// Lines that C code writes to stderr meanwhile go nowhere: gRPC's own line about a port
// it could not bind, before ours.
class StderrSilenced {
 public:
  StderrSilenced() : saved_(dup(STDERR_FILENO)) {
    const int nowhere = open("/dev/null", O_WRONLY);
    dup2(nowhere, STDERR_FILENO);
    close(nowhere);
  }
  ~StderrSilenced() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }

 private:
  int saved_;
};

// The last line, then the end, with exit code 0; said once, whichever thread comes first.
[[noreturn]] void SayStoppedAndExit() {
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) std::cerr << "Server stopped" << std::endl;
  std::_Exit(0);
}

// After Ctrl+C: whatever is stuck, the program ends 1.5 s from now.
void EndSoonWhatever() {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    SayStoppedAndExit();
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  // First of all: Ctrl+C at any moment from here on stops the server cleanly.
  CatchStopSignals();
  const Options options = ParseArgs(argc, argv);
  KeepBigBuffersInTheHeap();
  const std::string address = options.host + ":" + std::to_string(options.port);

  HashServiceImpl service;
  // Health checking and reflection, as the Python servers have: `grpcurl -plaintext
  // localhost:50051 list` works without the .proto file. (The lab's own, not gRPC C++'s,
  // served as a generic service: serving.h says why.)
  serving::HealthAndReflection health_and_reflection({HashService::service_full_name()});

  grpc::ServerBuilder builder;
  // so_reuseport 0: a second server on the same port fails loudly instead of silently
  // sharing the port with the first one (gRPC's default on Linux).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Only use an insecure port for testing: no TLS. Port 0 asks for any free port;
  // gRPC writes the one we got into selected_port when the server starts.
  int selected_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  builder.RegisterService(&service);
  builder.RegisterCallbackGenericService(&health_and_reflection);
  std::unique_ptr<grpc::Server> server;
  {
    StderrSilenced quiet;
    server = builder.BuildAndStart();
  }
  if (!server || selected_port == 0) {
    std::cerr << "Cannot listen on " << address << ". Is another server using that port? "
              << "Stop it, or start this one with --port 0 for a free port." << std::endl;
    return 1;
  }
  std::cerr << "Server started on port " << selected_port << std::endl;

  const int signum = WaitForStopSignal();
  std::cerr << "Received " << (signum == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping the server..." << std::endl;
  EndSoonWhatever();
  health_and_reflection.Shutdown();  // health checks say NOT_SERVING now, Watch calls end
  // Calls in flight get one second to finish, then they are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  SayStoppedAndExit();
}
