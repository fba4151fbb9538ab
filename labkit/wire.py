"""`python -m labkit wire --to HOST:PORT`: see the wire, every HTTP/2 frame of every call.

The slides draw a gRPC call as HTTP/2 frames: a channel is one connection, each call is a
stream, a request is a HEADERS frame (:method, :path, content-type, grpc-timeout) and
DATA frames holding length-prefixed messages, and the response ends with trailers that
carry grpc-status. This proxy shows exactly that, live. Point a client at it instead of
at the server:

    python -m labkit wire --to localhost:50051     # terminal 3: listens on port 50050
    python client.py --target localhost:50050      # terminal 2

It takes every connection like a server, opens one connection of its own to HOST:PORT
for it, and passes every frame on, printing each as it passes: who sent it, its type,
its stream, its header lines, and for DATA the 5-byte gRPC prefix, the message's bytes
and the message itself, decoded through the server's reflection service (as grpcurl
does). When a connection closes, a line says how many streams (calls) it carried.

How it works: the proxy is a real HTTP/2 peer on both sides, built on h2's connection
state machines: towards the client it is a server, towards the server a client. Calls
keep their stream numbers; headers, data, trailers, RST_STREAM and GOAWAY are passed on
as they come. Flow control, PING and SETTINGS are per hop: each side's WINDOW_UPDATE,
PING and SETTINGS ACK frames answer the proxy, which answers them in turn (h2 acks PINGs
and SETTINGS by itself; the proxy hands window back for the data it has passed on).
The frames printed are the ones the client and the server sent (h2 joins a HEADERS
frame and its CONTINUATION frames into one; PRIORITY frames, which gRPC does not send,
are neither shown nor passed on).

Printing happens on a thread of its own, so that a reflection lookup or a big message
never holds up the forwarding. `Proxy` is the same proxy in-process, for tests:

    with Proxy(to="localhost:50051") as proxy:   # listens on a free port
        ... call localhost:{proxy.port} ...
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import queue
import signal
import socket
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TextIO

import grpc
from google.protobuf import descriptor_pool, message_factory, text_format
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    InformationalResponseReceived,
    PingAckReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SettingsAcknowledged,
    StreamReset,
    TrailersReceived,
    UnknownFrameReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError, TooManyStreamsError
from h2.settings import SettingCodes, Settings

MAX_BYTES = 64  # of a message shown in hex (the default of --max-bytes)
BYTES_PER_LINE = 16
MAX_TEXT_LINES = 12  # of a decoded message
MAX_LINE = 100  # characters of a decoded line: a projector is narrow
INDENT = "    "
SUMMARY_CONNECTIONS = 5  # listed one by one in the summary at exit
# Streams and flow-control windows the proxy offers each side: enough for any lab (the
# multiplexing lab's 100 calls at once over one connection), and the windows of gRPC's own
# peers (see their SETTINGS), so that a call whose reader is slow holds up the other
# calls of its connection no more than without the proxy.
MAX_STREAMS = 1000
WINDOW = 4 * 1024 * 1024
# The reflection lookup (one per service) gives up after this long.
REFLECTION_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "grpc.reflection.v1alpha.ServerReflection"}], "timeout": "3s"}]})
# gRPC's own SETTINGS (grpc/src/core/ext/transport/chttp2/transport/http2_settings.h)
GRPC_SETTINGS = {0xFE03: "GRPC_ALLOW_TRUE_BINARY_METADATA",
                 0xFE04: "GRPC_PREFERRED_RECEIVE_CRYPTO_FRAME_SIZE"}
STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


# --- What the proxy reports: one record per frame, and a few about connections ---------

@dataclass
class Frame:
    """One frame as it passed the proxy."""

    connection: int
    sender: str  # "client" or "server"
    type: str  # "HEADERS", "DATA", "SETTINGS", ...
    stream_id: int = 0
    flags: tuple[str, ...] = ()
    headers: list[tuple[str, str]] = field(default_factory=list)
    data: bytes = b""  # of a DATA frame
    details: list[str] = field(default_factory=list)  # the fields of the other frames
    role: str = ""  # of a HEADERS frame: "request", "response", "trailers", ...


@dataclass
class Opened:
    connection: int
    client: str  # the client's address and port
    server: str  # where the proxy forwards it


@dataclass
class Closed:
    connection: int


@dataclass
class Note:
    connection: int
    text: str


Record = Frame | Opened | Closed | Note


def setting_name(code: int) -> str:
    try:
        return SettingCodes(code).name
    except ValueError:
        return GRPC_SETTINGS.get(code, f"0x{code:x}")


def error_name(code: int) -> str:
    try:
        return f"{ErrorCodes(code).name} ({code})"
    except ValueError:
        return str(code)


def text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


HEADERS_ROLES = {RequestReceived: "request", ResponseReceived: "response",
                 TrailersReceived: "trailers", InformationalResponseReceived: "informational"}


def describe(event: object, connection: int, sender: str) -> Frame | Note | None:
    """The frame that made h2 report `event` (None for events that are part of another
    frame: StreamEnded is the END_STREAM flag of a HEADERS or DATA frame)."""
    ended = ("END_STREAM",) if getattr(event, "stream_ended", None) else ()
    role = HEADERS_ROLES.get(type(event))
    if role:
        if role == "response" and ended:
            role = "trailers-only response"  # no messages: status and trailers at once
        # h2 joins CONTINUATION frames to their HEADERS: the block always ends here.
        return Frame(connection, sender, "HEADERS", event.stream_id, ended + ("END_HEADERS",),
                     headers=[(text(n), text(v)) for n, v in event.headers], role=role)
    if isinstance(event, DataReceived):
        return Frame(connection, sender, "DATA", event.stream_id, ended, data=event.data)
    if isinstance(event, WindowUpdated):
        return Frame(connection, sender, "WINDOW_UPDATE", event.stream_id,
                     details=[f"increment = {event.delta}"])
    if isinstance(event, RemoteSettingsChanged):
        return Frame(connection, sender, "SETTINGS", details=[
            f"{setting_name(code)} = {change.new_value}"
            for code, change in event.changed_settings.items()])
    if isinstance(event, SettingsAcknowledged):
        return Frame(connection, sender, "SETTINGS", flags=("ACK",))
    if isinstance(event, (PingReceived, PingAckReceived)):
        flags = ("ACK",) if isinstance(event, PingAckReceived) else ()
        return Frame(connection, sender, "PING", flags=flags,
                     details=[f"data = {event.ping_data.hex(' ')}"])
    if isinstance(event, StreamReset):
        if not event.remote_reset:  # h2 reset the stream itself: the peer broke a rule
            return Note(connection, f"stream {event.stream_id}: the {sender} broke HTTP/2's "
                                    f"rules; the proxy resets it ({error_name(event.error_code)})")
        return Frame(connection, sender, "RST_STREAM", event.stream_id,
                     details=[f"error code = {error_name(event.error_code)}"])
    if isinstance(event, ConnectionTerminated):
        details = [f"last stream id = {event.last_stream_id}",
                   f"error code = {error_name(event.error_code)}"]
        if event.additional_data:
            details.append(f"debug data = {text(event.additional_data)}")
        return Frame(connection, sender, "GOAWAY", details=details)
    if isinstance(event, UnknownFrameReceived):
        return Frame(connection, sender, f"frame of type 0x{event.frame.type:02x}",
                     event.frame.stream_id)
    return None


# --- Forwarding: h2 on both sides, one connection pair per client connection --------------

class Connection(H2Connection):
    """h2's connection state machine with one change: after a GOAWAY, sent or received,
    the streams already open carry on, as RFC 9113 (6.8) allows. h2 closes the whole
    connection at once (python-hyper/h2#1181), which would cut off the calls in flight
    when a gRPC server stops gracefully: it sends GOAWAY first, then finishes them."""

    OPEN = (ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN)

    def close_connection(self, *args, **kwargs) -> None:
        state = self.state_machine.state
        super().close_connection(*args, **kwargs)
        if state in self.OPEN:
            self.state_machine.state = state

    def _receive_goaway_frame(self, frame):  # type: ignore[no-untyped-def]
        state = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        if state in self.OPEN:
            self.state_machine.state = state
        return result


def new_h2(client_side: bool) -> Connection:
    # header_encoding None: headers stay bytes, passed on exactly as they came.
    config = H2Configuration(client_side=client_side, header_encoding=None,
                             normalize_inbound_headers=False,
                             normalize_outbound_headers=False)
    h2 = Connection(config)
    # As h2 sets its own defaults (in H2Connection.__init__), before the first SETTINGS.
    initial = {SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
               SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
               SettingCodes.MAX_HEADER_LIST_SIZE: h2.DEFAULT_MAX_HEADER_LIST_SIZE}
    if client_side:
        initial[SettingCodes.ENABLE_PUSH] = 0  # as gRPC's clients: no server push
    h2.local_settings = Settings(client=client_side, initial_values=initial)
    return h2


@dataclass
class Headers:
    headers: list
    end_stream: bool


@dataclass
class Data:
    data: bytes
    unacked: int  # flow-controlled bytes (data and padding) not yet handed back to the sender
    end_stream: bool


class Side:
    """One end of the proxy: the h2 connection that faces the client (or the server), its
    socket, and what waits to be sent there, per stream, in order."""

    def __init__(self, name: str, h2: Connection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.name = name  # who is at the other end: "client" or "server"
        self.h2 = h2
        self.reader = reader
        self.writer = writer
        self.outbox: dict[int, collections.deque[Headers | Data]] = {}
        self.goaway_last_stream: int | None = None  # set when this side sent GOAWAY

    def queue(self, stream_id: int, item: Headers | Data) -> None:
        self.outbox.setdefault(stream_id, collections.deque()).append(item)

    async def send_out(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()  # the peer reads slowly: so do we, from the other side


class Bridge:
    """One client connection and the proxy's own connection to the server for it."""

    def __init__(self, number: int, client: Side, server: Side,
                 report: Callable[[Record], None]) -> None:
        self.number = number
        self.client = client
        self.server = server
        self.report = report

    async def run(self) -> None:
        for side in (self.client, self.server):
            side.h2.initiate_connection()  # SETTINGS
            # The connection's window starts at 64 KiB whatever SETTINGS say: widen it.
            side.h2.increment_flow_control_window(WINDOW - side.h2.inbound_flow_control_window)
        pumps = [asyncio.ensure_future(self.pump(self.client, self.server)),
                 asyncio.ensure_future(self.pump(self.server, self.client))]
        try:
            await self.client.send_out()
            await self.server.send_out()
            # Until either side closes its connection (or the proxy stops).
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for side in (self.client, self.server):
                side.writer.close()

    async def pump(self, source: Side, target: Side) -> None:
        """Read what `source` sends and pass it on to `target`, until `source` closes."""
        try:
            while data := await source.reader.read(65536):
                try:
                    events = source.h2.receive_data(data)
                except ProtocolError as error:
                    self.report(Note(self.number, f"the {source.name} broke HTTP/2's rules "
                                                  f"({error}); closing the connection"))
                    await source.send_out()  # h2's GOAWAY, which says why
                    return
                for event in events:
                    self.handle(source, target, event)
                self.forward(self.server, self.client)
                self.forward(self.client, self.server)
                await self.client.send_out()
                await self.server.send_out()
        except OSError:  # reset by the peer, say: the connection is over all the same
            pass

    def handle(self, source: Side, target: Side, event: object) -> None:
        described = describe(event, self.number, source.name)
        if described is not None:
            self.report(described)
        stream_id = getattr(event, "stream_id", None)
        if isinstance(event, RequestReceived) and target.goaway_last_stream is not None \
                and stream_id > target.goaway_last_stream:
            # The server said GOAWAY before this call came: it would ignore the stream.
            # REFUSED_STREAM tells the client to try again, on a new connection.
            source.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        elif type(event) in HEADERS_ROLES:
            target.queue(stream_id, Headers(event.headers, event.stream_ended is not None))
        elif isinstance(event, DataReceived):
            target.queue(stream_id, Data(event.data, event.flow_controlled_length,
                                         event.stream_ended is not None))
        elif isinstance(event, StreamReset):
            # What came before the reset goes first (the trailers, when a server ends a
            # call with RST_STREAM NO_ERROR); what cannot go out now never will.
            self.forward_stream(target, source, stream_id)
            self.drop(target, source, stream_id)
            self.drop(source, target, stream_id)
            with suppress(ProtocolError):  # not open there (yet, or any more)
                target.h2.reset_stream(stream_id, event.error_code)
        elif isinstance(event, ConnectionTerminated):
            source.goaway_last_stream = event.last_stream_id
            target.h2.close_connection(event.error_code, event.additional_data,
                                       event.last_stream_id)

    def forward(self, target: Side, source: Side) -> None:
        """Send `target` what waits for it, stream by stream, in order."""
        opening_blocked = False  # the server's MAX_CONCURRENT_STREAMS is reached
        for stream_id in list(target.outbox):
            if opening_blocked and stream_id not in target.h2.streams:
                continue  # streams open in the order of their ids: this one waits too
            if not self.forward_stream(target, source, stream_id):
                opening_blocked = True

    def forward_stream(self, target: Side, source: Side, stream_id: int) -> bool:
        """Send `target` what waits for it on one stream, as far as its flow-control
        windows allow, and hand `source` back window for the data passed on (so that it
        sends more). False if the stream cannot open yet (too many streams are open)."""
        items = target.outbox.get(stream_id, collections.deque())
        try:
            while items:
                item = items[0]
                if isinstance(item, Headers):
                    target.h2.send_headers(stream_id, item.headers, item.end_stream)
                    items.popleft()
                    continue
                room = min(target.h2.local_flow_control_window(stream_id),
                           target.h2.max_outbound_frame_size)
                if item.data and room <= 0:
                    break  # until target sends WINDOW_UPDATE
                chunk, item.data = item.data[:room], item.data[room:]
                target.h2.send_data(stream_id, chunk, item.end_stream and not item.data)
                handed_back = len(chunk) if item.data else item.unacked
                item.unacked -= handed_back
                if handed_back:
                    source.h2.acknowledge_received_data(handed_back, stream_id)
                if not item.data:
                    items.popleft()
        except TooManyStreamsError:
            return False  # it opens once another stream has ended
        except ProtocolError:  # the stream was closed on that side meanwhile
            self.drop(target, source, stream_id)
        if not items:
            target.outbox.pop(stream_id, None)
        return True

    def drop(self, target: Side, source: Side, stream_id: int) -> None:
        """Forget what waits for `target` on a stream that has ended, but hand `source`
        back the window of its data all the same: the connection's window is shared by
        all streams, and would shrink for good."""
        for item in target.outbox.pop(stream_id, ()):
            if isinstance(item, Data) and item.unacked:
                source.h2.acknowledge_received_data(item.unacked, stream_id)


def address_text(peer: tuple | str | None) -> str:
    if not isinstance(peer, tuple):
        return str(peer)
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_target(target: str) -> tuple[str, int]:
    """"HOST:PORT" (or "[::1]:PORT") as (host, port); ValueError if it is not one."""
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, like localhost:50051, got {target!r}")
    return host.strip("[]"), int(port)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port. `[::]` (the default, as the labs' servers) takes
    both IPv6 and IPv4 connections, on one port even when the port is 0."""
    host = host.strip("[]")
    if host in ("", "::"):
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            address: tuple = ("::", port)
        except OSError:  # no IPv6 on this machine
            sock, address = socket.socket(socket.AF_INET, socket.SOCK_STREAM), ("0.0.0.0", port)
    else:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


# --- Printing: records to lines, on a thread of their own -----------------------------------

class Reflection:
    """The message types of the server's methods, asked of its reflection service once per
    service (grpc's reflection client, as grpcurl does it)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.channel: grpc.Channel | None = None
        self.pool: descriptor_pool.DescriptorPool | None = None
        self.services: dict[str, object] = {}  # name -> ServiceDescriptor, or why not

    def message_class(self, path: str, sender: str) -> tuple[type | None, str]:
        """The class of the messages `sender` sends in a call to `path` and its name, or
        None and why not."""
        service_name, _, method_name = path.lstrip("/").partition("/")
        if service_name not in self.services:
            self.services[service_name] = self.look_up(service_name)
        service = self.services[service_name]
        if isinstance(service, str):
            return None, service
        method = service.methods_by_name.get(method_name)
        if method is None:
            return None, f"the server's reflection knows no method {method_name}"
        described = method.input_type if sender == "client" else method.output_type
        return message_factory.GetMessageClass(described), described.full_name

    def look_up(self, service_name: str) -> object:
        if self.pool is None:
            self.channel = grpc.insecure_channel(self.target, options=[
                ("grpc.enable_http_proxy", 0), ("grpc.service_config", REFLECTION_CONFIG)])
            self.pool = descriptor_pool.DescriptorPool(
                ProtoReflectionDescriptorDatabase(self.channel))
        try:
            return self.pool.FindServiceByName(service_name)
        except grpc.RpcError as error:
            return (f"no reflection service at {self.target} ({error.code().name}): "
                    "hex only")
        except (KeyError, TypeError, AssertionError):  # NOT_FOUND, or an odd answer
            return f"the server's reflection does not know {service_name}: hex only"

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()


class MessageBuffer:
    """Reassembles the gRPC messages of one direction of one stream: each is a 5-byte
    prefix (compressed flag, 4-byte length) and that many bytes, cut into DATA frames
    wherever HTTP/2 likes: one message may span frames, one frame may hold several."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.prefix: bytes | None = None  # of the message being read

    def feed(self, data: bytes) -> list[tuple]:
        """What this frame's bytes brought: ("prefix", 5 bytes) where a message starts,
        ("message", compressed flag, bytes) where one is complete, ("partial", bytes so
        far, length) where one goes on in the next frame."""
        self.buffer += data
        pieces: list[tuple] = []
        while True:
            if self.prefix is None:
                if len(self.buffer) < 5:
                    break
                self.prefix = bytes(self.buffer[:5])
                del self.buffer[:5]
                pieces.append(("prefix", self.prefix))
            length = int.from_bytes(self.prefix[1:5], "big")
            if len(self.buffer) < length:
                pieces.append(("partial", len(self.buffer), length))
                break
            message = bytes(self.buffer[:length])
            del self.buffer[:length]
            pieces.append(("message", self.prefix[0], message))
            self.prefix = None
        return pieces


@dataclass
class StreamView:
    """What the printer knows of one stream: the call it carries, half-read messages."""

    path: str = ""
    encoding: dict[str, str] = field(default_factory=dict)  # sender -> grpc-encoding
    buffers: dict[str, MessageBuffer] = field(
        default_factory=lambda: {"client": MessageBuffer(), "server": MessageBuffer()})


@dataclass
class Tally:
    """The streams of one connection, for its summary line."""

    frames: int = 0
    streams: list[int] = field(default_factory=list)  # in the order they opened
    open: set[int] = field(default_factory=set)
    ended: dict[int, set[str]] = field(default_factory=dict)  # who sent END_STREAM
    most_open: int = 0  # the most streams open at once

    def count(self, frame: Frame) -> None:
        self.frames += 1
        stream = frame.stream_id
        if frame.role == "request":
            self.streams.append(stream)
            self.open.add(stream)
            self.most_open = max(self.most_open, len(self.open))
        if "END_STREAM" in frame.flags:
            self.ended.setdefault(stream, set()).add(frame.sender)
            if len(self.ended[stream]) == 2:
                self.open.discard(stream)
        if frame.type == "RST_STREAM":
            self.open.discard(stream)

    def summary(self) -> str:
        calls = f"{plural(len(self.streams), 'stream')} on this one connection"
        if self.streams:
            calls += f" ({stream_ids(self.streams)}), up to {self.most_open} open at once"
        return f"{calls}; {plural(self.frames, 'frame')}"


def stream_ids(ids: list[int]) -> str:
    if not ids:
        return "no streams"
    return ("id " if len(ids) == 1 else "ids ") + ", ".join(map(str, ids))


def plural(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def annotate(name: str, value: str) -> str:
    """A word on the values that are hard to read: status codes, timeouts, escapes."""
    if name == "grpc-status" and value.isdigit():
        return f"  ({STATUS_NAMES.get(int(value), 'unknown code')})"
    if name == "grpc-timeout" and value[:-1].isdigit() and value[-1:] in TIMEOUT_UNITS:
        return f"  (about {int(value[:-1]) * TIMEOUT_UNITS[value[-1]]:.2f} s)"
    if name == "grpc-message" and urllib.parse.unquote(value) != value:
        return f"  (percent-decoded: {urllib.parse.unquote(value)})"
    return ""


def shorten(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


class Printer:
    """Turns the proxy's records into lines, on a thread of its own: the forwarding only
    puts records on a queue (which holds back the forwarding if it fills)."""

    def __init__(self, out: TextIO, reflection: Reflection, hide_connection: bool = False,
                 stream: int | None = None, max_bytes: int = MAX_BYTES) -> None:
        self.out = out
        self.reflection = reflection
        self.hide_connection = hide_connection
        self.only_stream = stream
        self.max_bytes = max_bytes
        self.tallies: dict[int, Tally] = {}
        self.streams: dict[tuple[int, int], StreamView] = {}
        self.records: queue.Queue[Record | None] = queue.Queue(maxsize=1000)
        self.thread = threading.Thread(target=self.run, name="labkit-wire-printer",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, record: Record) -> None:
        self.records.put(record)

    def stop(self) -> None:
        """Print what is still queued, then the summary of all connections."""
        if self.thread.is_alive():
            self.records.put(None)
            self.thread.join()
        self.write([self.summary()])

    def run(self) -> None:
        while (record := self.records.get()) is not None:
            try:
                self.write(self.lines(record))
            except Exception as error:  # a printing bug must not stop the proxy
                self.write([f"(could not print a record: {error!r})"])

    def write(self, lines: list[str]) -> None:
        if lines:
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()

    def summary(self) -> str:
        streams = sum(len(t.streams) for t in self.tallies.values())
        line = f"Summary: {plural(len(self.tallies), 'connection')}, {plural(streams, 'stream')}"
        shown = [f"conn {n}: {stream_ids(t.streams)}"
                 for n, t in itertools.islice(self.tallies.items(), SUMMARY_CONNECTIONS)]
        if len(self.tallies) > SUMMARY_CONNECTIONS:
            shown.append(f"{len(self.tallies) - SUMMARY_CONNECTIONS} more connections")
        return line + (f" ({'; '.join(shown)})" if streams else "")

    # --- one record ------------------------------------------------------------------------

    def lines(self, record: Record) -> list[str]:
        if isinstance(record, Opened):
            self.tallies[record.connection] = Tally()
            return [f"conn {record.connection}  opened by {record.client}, "
                    f"forwarded to {record.server}"]
        if isinstance(record, Closed):
            tally = self.tallies.get(record.connection, Tally())
            for key in [key for key in self.streams if key[0] == record.connection]:
                del self.streams[key]
            return [f"conn {record.connection}  closed: {tally.summary()}"]
        if isinstance(record, Note):
            return [f"conn {record.connection}  {record.text}"]
        self.tallies.setdefault(record.connection, Tally()).count(record)
        view = self.streams.setdefault((record.connection, record.stream_id), StreamView())
        details = self.frame_details(record, view)  # read every frame, shown or not
        if (self.hide_connection and record.stream_id == 0) or \
                self.only_stream not in (None, record.stream_id):
            return []
        return [self.title(record)] + [INDENT + line for line in details]

    def title(self, frame: Frame) -> str:
        receiver = "client" if frame.sender == "server" else "server"
        flags = f" (flags = {', '.join(frame.flags)})" if frame.flags else ""
        size = f"  {len(frame.data)} bytes" if frame.type == "DATA" else ""
        role = f"  {frame.role}" if frame.role else ""
        return (f"conn {frame.connection}  {frame.sender} -> {receiver}  stream "
                f"{frame.stream_id}  {frame.type}{flags}{size}{role}")

    def frame_details(self, frame: Frame, view: StreamView) -> list[str]:
        if frame.type == "HEADERS":
            lines = []
            for name, value in frame.headers:
                if name == ":path":
                    view.path = value
                if name == "grpc-encoding":
                    view.encoding[frame.sender] = value
                lines.append(f"{name}: {value}{annotate(name, value)}")
            return lines
        if frame.type == "DATA":
            lines = []
            for piece in view.buffers[frame.sender].feed(frame.data):
                if piece[0] == "prefix":
                    prefix = piece[1]
                    lines.append(f"gRPC prefix: {prefix.hex(' ')}  (compressed: {prefix[0]}, "
                                 f"length: {int.from_bytes(prefix[1:], 'big')})")
                elif piece[0] == "partial":
                    lines.append(f"message continues in the next DATA frame: "
                                 f"{piece[1]} of {piece[2]} bytes so far")
                else:
                    lines += self.message_lines(piece[2], piece[1], frame.sender, view)
            return lines
        return frame.details

    def message_lines(self, message: bytes, compressed: int, sender: str,
                      view: StreamView) -> list[str]:
        lines = self.hex_lines(message)
        if compressed:
            encoding = view.encoding.get(sender, "identity")
            if encoding not in ("gzip", "deflate"):
                return lines + [f"compressed with {encoding}: not decoded"]
            try:
                message = zlib.decompress(message, 16 + zlib.MAX_WBITS if encoding == "gzip"
                                          else zlib.MAX_WBITS)
            except zlib.error as error:
                return lines + [f"not valid {encoding}: {error}"]
            lines.append(f"decompressed ({encoding}): {len(message)} bytes")
        if not view.path:
            return lines + ["not decoded: the call's :path was not seen"]
        message_class, name = self.reflection.message_class(view.path, sender)
        if message_class is None:
            return lines + [f"not decoded: {name}"]
        try:
            decoded = text_format.MessageToString(message_class.FromString(message),
                                                  as_utf8=True)
        except DecodeError as error:
            return lines + [f"not a valid {name}: {error}"]
        body = decoded.splitlines() or ["(every field has its default value)"]
        if len(body) > MAX_TEXT_LINES:
            body = body[:MAX_TEXT_LINES] + [f"... {len(body) - MAX_TEXT_LINES} more lines"]
        return lines + [f"as {name}:"] + [shorten("  " + line) for line in body]

    def hex_lines(self, message: bytes) -> list[str]:
        if len(message) <= BYTES_PER_LINE:
            return [f"message: {message.hex(' ') or '(empty)'}"]
        shown = message[: self.max_bytes] if self.max_bytes else message
        lines = [f"message, {len(message)} bytes:"]
        for start in range(0, len(shown), BYTES_PER_LINE):
            lines.append("  " + shown[start: start + BYTES_PER_LINE].hex(" "))
        if len(shown) < len(message):
            lines.append(f"  ... {len(message) - len(shown)} more bytes")
        return lines


# --- The proxy ---------------------------------------------------------------------------

class Proxy:
    """The proxy, in-process: `port = proxy.start()` listens (on a free port unless told
    one) and forwards every connection to `to`, printing its frames to `out`; `stop()`
    closes every connection and prints the summary."""

    def __init__(self, to: str, host: str = "[::]", port: int = 0, out: TextIO | None = None,
                 hide_connection: bool = False, stream: int | None = None,
                 max_bytes: int = MAX_BYTES) -> None:
        self.to = to
        self.upstream = split_target(to)
        self.host = host
        self.port = port
        self.printer = Printer(out or sys.stdout, Reflection(to), hide_connection, stream,
                               max_bytes)
        self.numbers = itertools.count(1)
        self.connections: set[asyncio.Task] = set()
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    def start(self) -> int:
        """Listen and start forwarding; return the port. OSError if the port is taken."""
        sock = listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.printer.start()
        self.thread = threading.Thread(target=asyncio.run, args=(self.serve(sock),),
                                       name="labkit-wire", daemon=True)
        self.thread.start()
        self.ready.wait()
        return self.port

    def stop(self) -> None:
        if self.thread is None:
            return
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=5)
        self.thread = None
        self.printer.stop()
        self.printer.reflection.close()

    def __enter__(self) -> Proxy:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    async def serve(self, sock: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        server = await asyncio.start_server(self.accept, sock=sock)
        self.ready.set()
        try:
            await self.stopping.wait()
        finally:
            server.close()
            for task in self.connections:
                task.cancel()
            await asyncio.gather(*self.connections, return_exceptions=True)

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: connect to the server for it, then pass frames on."""
        task = asyncio.current_task()
        self.connections.add(task)
        number = next(self.numbers)
        # Frames are small: send each at once, not after the peer's delayed ACK (asyncio
        # does this for the sockets it opens, not for those of a listening socket of ours).
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.printer.put(Opened(number, address_text(writer.get_extra_info("peername")),
                                self.to))
        try:
            try:
                server = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5)
            except (OSError, asyncio.TimeoutError) as error:
                self.printer.put(Note(number, f"cannot reach the server at {self.to} "
                                              f"({error or 'timed out'}): is it running?"))
                writer.close()
                return
            bridge = Bridge(number, Side("client", new_h2(client_side=False), reader, writer),
                            Side("server", new_h2(client_side=True), *server),
                            self.printer.put)
            await bridge.run()
        except (asyncio.CancelledError, OSError):
            # The proxy stops, or a side went away mid-write: this connection is over.
            # (Raised on, asyncio would log it as an error of the handler.)
            pass
        finally:
            self.printer.put(Closed(number))
            self.connections.discard(task)


def run(to: str, host: str, port: int, hide_connection: bool, stream: int | None,
        max_bytes: int) -> int:
    """`python -m labkit wire`: the proxy until Ctrl+C or SIGTERM."""
    logging.basicConfig(level=logging.INFO)
    # grpc's reflection client logs each file it loads: not what the class came to see.
    logging.getLogger("grpc_reflection").setLevel(logging.WARNING)
    proxy = Proxy(to, host, port, hide_connection=hide_connection, stream=stream,
                  max_bytes=max_bytes)
    try:
        port = proxy.start()
    except OSError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
        return 1
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    logging.info("Forwarding every connection to %s, printing every frame", to)
    logging.info("Server started on port %d", port)
    while not stop.wait(0.5):
        pass
    proxy.stop()
    logging.info("Server stopped")
    return 0
