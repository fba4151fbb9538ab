"""A lab's messages and services for the tests, built from the kit's canonical proto.

The tests never import a lab's generated stubs, nor compile the proto of the copy under
test: a student's copy decides nothing in the test process. Instead, `lab_proto(name)`
compiles `protos/<lab>/<file>.proto` with grpcio-tools' protoc into a descriptor set
and loads it into a private descriptor pool (several labs have an `assistant.proto` of
their own: one shared pool could not hold them all). From it come

- message classes: `proto.message("HelloRequest")`;
- a client stub: `proto.stub(channel, "Greeter").SayHello(request, timeout=5)`, the same
  calls as a generated stub (unary, streaming, `.future`, `.with_call`);
- a server-side handler for a stand-in server of the test's own:
  `proto.handler("Greeter", servicer)`, the servicer being any object with a method per
  RPC, called as gRPC calls a generated servicer's.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from labkit.labs import get_lab


class ProtoError(RuntimeError):
    pass


def compile_descriptor_set(proto: Path) -> descriptor_pb2.FileDescriptorSet:
    """The FileDescriptorSet of one .proto file (and its imports), by grpcio-tools' protoc."""
    with tempfile.TemporaryDirectory(prefix="labkit-proto-") as scratch:
        out = Path(scratch) / "set.pb"
        done = subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto.parent}",
             "--include_imports", f"--descriptor_set_out={out}", proto.name],
            capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise ProtoError(f"protoc could not compile {proto}:\n{done.stderr.strip()}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _kind(method: MethodDescriptor) -> str:
    """unary_unary, unary_stream, stream_unary or stream_stream, as grpc names them."""
    requests = "stream" if method.client_streaming else "unary"
    responses = "stream" if method.server_streaming else "unary"
    return f"{requests}_{responses}"


@dataclass(frozen=True)
class LabProto:
    """The messages and services of one lab's canonical proto, in a pool of their own."""

    lab: str
    file: str  # the proto's file name, e.g. "hello.proto"
    pool: descriptor_pool.DescriptorPool

    @property
    def package(self) -> str:
        return self.pool.FindFileByName(self.file).package

    def _full(self, name: str) -> str:
        return f"{self.package}.{name}" if self.package and "." not in name else name

    def message(self, name: str) -> type:
        """A message class, by its name in the proto (`HelloRequest`)."""
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(self._full(name)))

    def service(self, name: str) -> ServiceDescriptor:
        return self.pool.FindServiceByName(self._full(name))

    def path(self, service: str, method: str) -> str:
        """The method's HTTP/2 path: /package.Service/Method."""
        return f"/{self.service(service).full_name}/{method}"

    def stub(self, channel: grpc.Channel, service: str) -> SimpleNamespace:
        """A client stub for `service`: one callable per RPC, as a generated stub has."""
        calls = {}
        for method in self.service(service).methods:
            factory = getattr(channel, _kind(method))
            calls[method.name] = factory(
                f"/{method.containing_service.full_name}/{method.name}",
                request_serializer=self.message(method.input_type.full_name).SerializeToString,
                response_deserializer=self.message(method.output_type.full_name).FromString)
        return SimpleNamespace(**calls)

    def handler(self, service: str, servicer: object) -> grpc.GenericRpcHandler:
        """The handler that serves `service` with `servicer`'s methods (one per RPC; an
        RPC it lacks answers UNIMPLEMENTED), for `grpc.server(...).add_generic_rpc_handlers`."""
        described = self.service(service)
        handlers = {}
        for method in described.methods:
            behaviour = getattr(servicer, method.name, None)
            if behaviour is None:
                continue
            make = getattr(grpc, f"{_kind(method)}_rpc_method_handler")
            handlers[method.name] = make(
                behaviour,
                request_deserializer=self.message(method.input_type.full_name).FromString,
                response_serializer=self.message(method.output_type.full_name).SerializeToString)
        return grpc.method_handlers_generic_handler(described.full_name, handlers)


@functools.cache
def lab_proto(lab: str) -> LabProto:
    """The canonical proto of a lab (by folder name), compiled once per process."""
    proto = get_lab(lab).canonical_proto
    pool = descriptor_pool.DescriptorPool()
    for file in compile_descriptor_set(proto).file:
        pool.Add(file)
    return LabProto(lab, proto.name, pool)
