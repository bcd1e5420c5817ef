#!/usr/bin/env python3
"""Slow-reader benchmark: how the server behaves when many clients ask for big answers and never
read them.

Usage:
    python3 benches/slow_readers.py [BINARY] [--calls N] [--streams S] [--connections C]
                                    [--hold SECONDS] [--hold-max SECONDS] [--settle SECONDS]
                                    [--rss-limit-mib MIB]
                                    [--json FILE] [-- EXTRA SERVER FLAGS...]

BINARY defaults to target/release/single-window under the repository root (a BINARY given is
taken relative to the current directory). Everything after `--`
is appended to the server's command line, so that its limits can be tuned from here, e.g.
`python3 benches/slow_readers.py target/debug/single-window --streams 400 -- --some-limit 64`.
Needs Python 3.11 and the `h2` package (`pip install h2`); it speaks HTTP/2 over raw sockets.

What it does and measures:
 1. Starts `BINARY serve --listen 127.0.0.1:0 --database-url sqlite://TMP/bench.db --log-format
    json` on a fresh temporary SQLite database, reads the bound address from the "listening" log
    line and waits until grpc.health.v1.Health/Check answers SERVING. Records the server's
    resident memory (VmRSS) when idle.
 2. Baseline: one connection calls CatalogService/GetService (`services/1003`) --calls times in
    sequence (after --warmup calls that are not counted); reports p50, p99 and calls/s, and the
    resident memory afterwards.
 3. Slow readers: opens --streams ListServices calls (page_size 500, about 1.3 MB per answer)
    spread over --connections connections, each with a 1 KiB HTTP/2 stream window, a 4 KiB
    socket receive buffer, and no WINDOW_UPDATE ever sent. After the server's first SETTINGS
    frame, nothing is read from these sockets until the end of step 4. If the server advertises
    SETTINGS_MAX_CONCURRENT_STREAMS below the streams per connection, only that many are opened
    on each connection and more connections are opened (up to --max-connections).
 4. After --hold seconds, and then for as long as the server's resident memory still grows (at
    most --hold-max seconds: time for the server to produce its answers), runs the GetService
    measurement again on a fresh connection and reports p50/p99 and the p99 ratio with/without
    readers. The server's resident memory is sampled every 0.5 s from the opening of the readers
    to the end of this step; the peak and its growth over idle are reported.
 5. Reads what the server sent to the slow readers (this is bounded by the windows that were
    never opened: at most 64 KiB of DATA per connection, plus headers, resets and GOAWAY) to tell
    how many streams were answered, refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last
    stream id), rejected with a gRPC status, or reset, and whether the server closed
    connections; then closes all of them, waits --settle seconds and samples the resident memory
    again.
 6. Prints a summary block, stops the server (SIGTERM, then SIGKILL after 15 s) and removes the
    temporary directory.

Targets (reported, not enforced): GetService p99 with the readers held <= 5x the p99 without;
resident memory growth with the readers <= +200 MiB over idle, and back near idle after they
disconnect.

Exit status: 0 when the benchmark ran (whatever the figures), 1 when the server does not start or
become ready or a baseline GetService call fails (non-zero grpc-status, reset or timeout), 2 for a
usage error or a missing `h2` package.

Percentiles are over the calls that succeeded; failed calls (timeouts, resets, non-zero
grpc-status) are counted and printed beside them. Resident memory after the readers disconnect can
stay above idle even when nothing leaks, because the allocator keeps freed pages for reuse: a
second round of readers then reuses them instead of growing further.

Safety: if the server's resident memory passes --rss-limit-mib (default 8192) while the readers
are opened or held, no more are opened, the measurement with readers stops, the readers are
disconnected, and the summary says the phase was cut short.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import math
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError:  # pragma: no cover - depends on the machine
    print("slow_readers.py needs the h2 package: pip install h2", file=sys.stderr)
    sys.exit(2)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join("target", "release", "single-window")

HOST = "127.0.0.1"
HEALTH_CHECK = b"/grpc.health.v1.Health/Check"
GET_SERVICE = b"/singlewindow.v1.CatalogService/GetService"
LIST_SERVICES = b"/singlewindow.v1.CatalogService/ListServices"

GET_SERVICE_NAME = b"services/1003"
LIST_PAGE_SIZE = 500

TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}
GRPC_CODES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
    13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


def log(*parts: object) -> None:
    print("[slow-readers]", *parts, flush=True)


# --------------------------------------------------------------------------------------------
# Protobuf and gRPC framing (the few bytes this benchmark needs)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def get_service_request() -> bytes:
    return b"\x0a" + varint(len(GET_SERVICE_NAME)) + GET_SERVICE_NAME


def list_services_request() -> bytes:
    return b"\x08" + varint(LIST_PAGE_SIZE)  # 08 f4 03


def grpc_messages(body: bytes) -> list[bytes]:
    """Splits a gRPC body into its (uncompressed) messages; raises ValueError if malformed."""
    messages, offset = [], 0
    while offset < len(body):
        if len(body) - offset < 5:
            raise ValueError("truncated gRPC frame prefix")
        flag = body[offset]
        (length,) = struct.unpack(">I", body[offset + 1:offset + 5])
        if flag != 0:
            raise ValueError(f"compressed gRPC frame (flag {flag})")
        end = offset + 5 + length
        if end > len(body):
            raise ValueError("truncated gRPC message")
        messages.append(body[offset + 5:end])
        offset = end
    return messages


def request_headers(path: bytes, port: int) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", f"{HOST}:{port}".encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]


def h2_config() -> h2.config.H2Configuration:
    return h2.config.H2Configuration(client_side=True, header_encoding=None)


# --------------------------------------------------------------------------------------------
# Server process


def resident_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


class Server:
    def __init__(self, binary: str, extra: list[str], workdir: str):
        self.command = [
            binary, "serve",
            "--listen", f"{HOST}:0",
            "--database-url", f"sqlite://{workdir}/bench.db",
            "--log-format", "json",
            *extra,
        ]
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.lines: deque[str] = deque(maxlen=50)
        self.log_counts: Counter[str] = Counter()
        self._listening = threading.Event()

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
            self.log_counts[str(record.get("level", "?")).upper()] += 1
            message = fields.get("message", record.get("message"))
            address = fields.get("address", record.get("address"))
            if message == "listening" and address and self.port is None:
                try:
                    self.port = int(str(address).rsplit(":", 1)[1])
                    self._listening.set()
                except (IndexError, ValueError):
                    pass

    @property
    def pid(self) -> int:
        assert self.process
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss(self) -> float | None:
        return resident_mib(self.pid) if self.process else None

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.1):
            if not self.alive():
                raise RuntimeError(f"server exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no 'listening' log line within {timeout:.0f} s")

    def wait_ready(self, timeout: float) -> float:
        """Polls the health check until SERVING; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        last_problem = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"server exited with status {self.process.returncode}")
            try:
                with UnaryClient(self.port, timeout=2.0) as client:
                    result = client.call(HEALTH_CHECK, b"", timeout=2.0)
                if result.status == 0 and result.messages == [b"\x08\x01"]:
                    return time.monotonic() - started
                last_problem = f"grpc-status {result.status}, message {result.messages!r}"
            except (OSError, RpcError, h2.exceptions.ProtocolError) as error:
                last_problem = str(error) or type(error).__name__
            time.sleep(0.2)
        raise RuntimeError(f"not SERVING within {timeout:.0f} s ({last_problem})")

    def stop(self) -> int | None:
        if not self.process:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                log("server still running 15 s after SIGTERM: SIGKILL")
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


# --------------------------------------------------------------------------------------------
# The measuring client: one HTTP/2 connection, unary calls one after another, every socket
# operation bounded by a timeout.


class RpcError(Exception):
    pass


@dataclass
class CallResult:
    status: int | None
    message: str
    messages: list[bytes]
    seconds: float


class UnaryClient:
    def __init__(self, port: int, timeout: float):
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(h2_config())
        self.conn.initiate_connection()
        # A large connection window so that answers never wait on this client.
        self.conn.increment_flow_control_window(2**30 - 65535)
        self._send(timeout)

    def __enter__(self) -> "UnaryClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self.sock.settimeout(1.0)
            self.sock.sendall(self.conn.data_to_send())
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.sock.close()

    def _send(self, timeout: float) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.settimeout(timeout)
            self.sock.sendall(data)

    def call(self, path: bytes, message: bytes, timeout: float) -> CallResult:
        """One unary call; raises RpcError (reset, GOAWAY, closed), TimeoutError or OSError."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, request_headers(path, self.port))
        self.conn.send_data(stream_id, grpc_frame(message), end_stream=True)
        started = time.perf_counter()
        deadline = started + timeout
        self._send(timeout)
        headers: dict[bytes, bytes] = {}
        trailers: dict[bytes, bytes] = {}
        body = bytearray()
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no complete answer within {timeout:.1f} s")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise RpcError("connection closed by the server")
            ended = False
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                    headers = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    if event.stream_id == stream_id:
                        body += event.data
                    self.conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream_id:
                    trailers = dict(event.headers)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                    raise RpcError(f"stream reset ({h2_error_name(event.error_code)})")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise RpcError(f"GOAWAY ({h2_error_name(event.error_code)})")
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    ended = True
            seconds = time.perf_counter() - started
            # PING and SETTINGS acknowledgements and WINDOW_UPDATEs that h2 queued.
            self._send(max(deadline - time.perf_counter(), 0.5))
            if ended:
                break
        status_text = trailers.get(b"grpc-status", headers.get(b"grpc-status"))
        status = int(status_text) if status_text is not None else None
        text = trailers.get(b"grpc-message", headers.get(b"grpc-message", b"")).decode("utf-8", "replace")
        try:
            messages = grpc_messages(bytes(body))
        except ValueError as error:
            raise RpcError(f"malformed answer: {error}") from error
        return CallResult(status, text, messages, seconds)


def h2_error_name(code: int | None) -> str:
    if code is None:
        return "?"
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


@dataclass
class Measurement:
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cut_short: str | None = None

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1]

    @property
    def calls_per_second(self) -> float | None:
        if not self.latencies_ms or self.seconds <= 0:
            return None
        return len(self.latencies_ms) / self.seconds

    def as_dict(self) -> dict:
        return {
            "calls_ok": len(self.latencies_ms),
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "calls_per_s": self.calls_per_second,
            "failures": dict(self.failures),
            "cut_short": self.cut_short,
        }


def measure_get_service(port: int, calls: int, warmup: int, call_timeout: float,
                        phase_timeout: float, stop: threading.Event | None = None) -> Measurement:
    """`calls` sequential GetService calls on one fresh connection (reconnecting after a
    connection-level failure). Stops early after 5 failures in a row, after `phase_timeout`
    seconds, or when `stop` is set."""
    result = Measurement()
    message = get_service_request()
    client: UnaryClient | None = None
    consecutive_failures = 0
    phase_deadline = time.monotonic() + phase_timeout
    started = None
    done = 0
    try:
        for index in range(warmup + calls):
            if stop is not None and stop.is_set():
                result.cut_short = "stopped (server memory limit)"
                break
            if time.monotonic() > phase_deadline:
                result.cut_short = f"phase timeout ({phase_timeout:.0f} s)"
                break
            if consecutive_failures >= 5:
                result.cut_short = "5 failures in a row"
                break
            if index == warmup:
                started = time.perf_counter()
            counted = index >= warmup
            try:
                if client is None:
                    client = UnaryClient(port, timeout=call_timeout)
                outcome = client.call(GET_SERVICE, message, timeout=call_timeout)
            except (TimeoutError, socket.timeout) as error:
                kind = f"timeout: {error}"
                client = _drop(client)
            except (RpcError, OSError, h2.exceptions.ProtocolError) as error:
                kind = f"{type(error).__name__}: {error}"
                client = _drop(client)
            else:
                if outcome.status != 0:
                    kind = f"grpc-status {outcome.status} {GRPC_CODES.get(outcome.status, '')}: {outcome.message}"
                elif len(outcome.messages) != 1 or not outcome.messages[0]:
                    kind = f"unexpected answer ({len(outcome.messages)} messages)"
                else:
                    consecutive_failures = 0
                    if counted:
                        result.latencies_ms.append(outcome.seconds * 1000.0)
                        done += 1
                    continue
            consecutive_failures += 1
            if counted:
                result.failures[kind] += 1
            else:
                result.failures[f"(warm-up) {kind}"] += 1
    finally:
        if started is not None:
            result.seconds = time.perf_counter() - started
        if client is not None:
            client.close()
    return result


def _drop(client: UnaryClient | None) -> None:
    if client is not None:
        client.close()
    return None


# --------------------------------------------------------------------------------------------
# Resident memory sampling


class RssSampler:
    def __init__(self, server: Server, interval: float, limit_mib: float):
        self.server = server
        self.interval = interval
        self.limit_mib = limit_mib
        self.samples: list[tuple[float, float]] = []
        self.over_limit = threading.Event()
        self.server_died = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            value = self.server.rss()
            if value is None:
                if not self.server.alive():
                    self.server_died = True
                    self.over_limit.set()  # nothing more to hold readers for
                    return
            else:
                self.samples.append((time.monotonic() - self._started, value))
                if value > self.limit_mib:
                    self.over_limit.set()
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        value = self.server.rss()  # a last sample, so that the peak is never below the end
        if value is not None:
            self.samples.append((time.monotonic() - self._started, value))

    @property
    def peak(self) -> float | None:
        return max((v for _, v in self.samples), default=None)


# --------------------------------------------------------------------------------------------
# Slow readers


@dataclass
class StreamOutcome:
    headers: bool = False
    status: int | None = None
    data_bytes: int = 0
    reset: int | None = None
    ended: bool = False


@dataclass
class SlowConnection:
    sock: socket.socket
    conn: h2.connection.H2Connection
    advertised_max_streams: int | None = None
    stream_ids: list[int] = field(default_factory=list)
    outcomes: dict[int, StreamOutcome] = field(default_factory=dict)
    goaway_last_stream: int | None = None
    goaway_code: int | None = None
    eof: bool = False
    reset_by_peer: bool = False
    parse_error: str | None = None
    bytes_read_at_end: int = 0
    initial_bytes_read: int = 0


class SlowReaders:
    def __init__(self, port: int, window: int, rcvbuf: int, timeout: float):
        self.port = port
        self.window = window
        self.rcvbuf = rcvbuf
        self.timeout = timeout
        self.connections: list[SlowConnection] = []
        self.connect_failures: Counter[str] = Counter()
        self.send_failures: Counter[str] = Counter()
        self.requested = 0

    def open(self, streams: int, connections: int, max_connections: int,
             stop: threading.Event | None = None) -> None:
        """Opens the streams, connection after connection; stops early when `stop` is set."""
        self.requested = streams
        per_connection = math.ceil(streams / max(connections, 1))
        remaining = streams
        failures_in_a_row = 0
        while remaining > 0 and len(self.connections) < max_connections and failures_in_a_row < 5:
            if stop is not None and stop.is_set():
                break
            try:
                slow = self._connect()
            except (OSError, RpcError, h2.exceptions.ProtocolError) as error:
                self.connect_failures[f"{type(error).__name__}: {error}"] += 1
                failures_in_a_row += 1
                time.sleep(0.1)
                continue
            failures_in_a_row = 0
            self.connections.append(slow)
            wanted = min(per_connection, remaining)
            if slow.advertised_max_streams is not None:
                wanted = min(wanted, slow.advertised_max_streams)
            opened = self._open_streams(slow, wanted)
            remaining -= opened
            if opened == 0:
                # The server takes no stream at all on a fresh connection: more would not help.
                break

    def _connect(self) -> SlowConnection:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect, so that the TCP window offered to the server is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.settimeout(self.timeout)
        try:
            sock.connect((HOST, self.port))
        except OSError as error:
            sock.close()
            raise OSError(f"connect: {error}") from error
        conn = h2.connection.H2Connection(h2_config())
        conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.window,
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
        })
        conn.initiate_connection()  # no connection-level WINDOW_UPDATE: it stays at 65,535
        slow = SlowConnection(sock=sock, conn=conn)
        try:
            sock.sendall(conn.data_to_send())
            # Read only up to the server's first SETTINGS frame (its connection preface).
            deadline = time.monotonic() + self.timeout
            got_settings = False
            while not got_settings:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RpcError(f"no SETTINGS from the server within {self.timeout:.0f} s")
                sock.settimeout(remaining)
                try:
                    data = sock.recv(4096)
                except socket.timeout as error:
                    raise RpcError(f"no SETTINGS from the server within {self.timeout:.0f} s") from error
                if not data:
                    raise RpcError("connection closed by the server before its SETTINGS")
                slow.initial_bytes_read += len(data)
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RemoteSettingsChanged):
                        got_settings = True
                        changed = event.changed_settings.get(
                            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
                        if changed is not None:
                            slow.advertised_max_streams = changed.new_value
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise RpcError(f"GOAWAY at connection start ({h2_error_name(event.error_code)})")
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        return slow

    def _open_streams(self, slow: SlowConnection, wanted: int) -> int:
        message = grpc_frame(list_services_request())
        headers = request_headers(LIST_SERVICES, self.port)
        opened: list[int] = []
        for _ in range(wanted):
            try:
                stream_id = slow.conn.get_next_available_stream_id()
                slow.conn.send_headers(stream_id, headers)
                slow.conn.send_data(stream_id, message, end_stream=True)
            except h2.exceptions.TooManyStreamsError:
                break
            except h2.exceptions.ProtocolError as error:
                self.send_failures[f"{type(error).__name__}: {error}"] += 1
                break
            opened.append(stream_id)
        try:
            # Also carries h2's automatic ACK of the server's SETTINGS.
            slow.sock.sendall(slow.conn.data_to_send())
        except OSError as error:
            self.send_failures[f"{type(error).__name__}: {error}"] += len(opened)
            slow.eof = True
            return 0
        slow.stream_ids.extend(opened)
        for stream_id in opened:
            slow.outcomes[stream_id] = StreamOutcome()
        return len(opened)

    @property
    def opened(self) -> int:
        return sum(len(c.stream_ids) for c in self.connections)

    def socket_states(self) -> tuple[Counter[str], int]:
        """TCP states of the connections and bytes waiting unread in their receive queues, read
        with getsockopt and ioctl (nothing is consumed)."""
        states: Counter[str] = Counter()
        queued = 0
        for slow in self.connections:
            try:
                info = slow.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
                states[TCP_STATES.get(info[0], str(info[0]))] += 1
                queued += struct.unpack("i", fcntl.ioctl(slow.sock.fileno(), termios.FIONREAD,
                                                         b"\0\0\0\0"))[0]
            except OSError:
                states["closed"] += 1
        return states, queued

    def drain(self, quiet: float = 0.5, limit: float = 10.0, cap: int = 1 << 20) -> None:
        """Reads whatever the server has sent (without opening any window, so the server cannot
        send more DATA than it already could) and records, for each stream, what the server did."""
        live = {}
        for slow in self.connections:
            if slow.eof:
                continue
            slow.sock.setblocking(False)
            live[slow.sock.fileno()] = slow
        last_data = {fd: time.monotonic() for fd in live}
        deadline = time.monotonic() + limit
        while live and time.monotonic() < deadline:
            readable, _, _ = select.select(list(live), [], [], 0.1)
            now = time.monotonic()
            for fd in readable:
                slow = live[fd]
                try:
                    data = slow.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as error:
                    if error.errno == errno.ECONNRESET:
                        slow.reset_by_peer = True
                    else:
                        slow.parse_error = f"{type(error).__name__}: {error}"
                    del live[fd]
                    continue
                if not data:
                    slow.eof = True
                    del live[fd]
                    continue
                last_data[fd] = now
                slow.bytes_read_at_end += len(data)
                if slow.parse_error is None:
                    self._feed(slow, data)
                if slow.bytes_read_at_end >= cap:
                    del live[fd]
            for fd in [fd for fd in live if now - last_data[fd] > quiet]:
                del live[fd]

    @staticmethod
    def _feed(slow: SlowConnection, data: bytes) -> None:
        try:
            events = slow.conn.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            slow.parse_error = f"{type(error).__name__}: {error}"
            return
        # Whatever h2 queued in answer (SETTINGS or PING ACKs, RST_STREAMs) is never sent.
        slow.conn.clear_outbound_data_buffer()
        for event in events:
            outcome = slow.outcomes.get(getattr(event, "stream_id", None) or 0)
            if isinstance(event, h2.events.ConnectionTerminated):
                slow.goaway_last_stream = event.last_stream_id
                slow.goaway_code = event.error_code
            elif outcome is None:
                continue
            elif isinstance(event, h2.events.ResponseReceived):
                outcome.headers = True
                status = dict(event.headers).get(b"grpc-status")
                if status is not None:
                    outcome.status = int(status)
            elif isinstance(event, h2.events.DataReceived):
                outcome.data_bytes += len(event.data)
            elif isinstance(event, h2.events.TrailersReceived):
                status = dict(event.headers).get(b"grpc-status")
                if status is not None:
                    outcome.status = int(status)
            elif isinstance(event, h2.events.StreamReset):
                outcome.reset = event.error_code
            elif isinstance(event, h2.events.StreamEnded):
                outcome.ended = True

    def close(self) -> None:
        for slow in self.connections:
            try:
                slow.sock.close()
            except OSError:
                pass

    def tally(self) -> dict:
        counts: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        resets: Counter[str] = Counter()
        closed = 0
        for slow in self.connections:
            closed_here = slow.eof or slow.reset_by_peer or slow.goaway_last_stream is not None
            closed += closed_here
            for stream_id in slow.stream_ids:
                outcome = slow.outcomes[stream_id]
                if outcome.reset == h2.errors.ErrorCodes.REFUSED_STREAM or (
                        slow.goaway_last_stream is not None
                        and stream_id > slow.goaway_last_stream and not outcome.headers):
                    counts["refused"] += 1
                elif outcome.reset is not None:
                    counts["reset"] += 1
                    resets[h2_error_name(outcome.reset)] += 1
                elif outcome.status not in (None, 0):
                    counts["rejected"] += 1
                    statuses[GRPC_CODES.get(outcome.status, str(outcome.status))] += 1
                elif outcome.ended:
                    counts["completed"] += 1
                elif closed_here:
                    counts["cut_off"] += 1
                elif outcome.headers:
                    counts["answering"] += 1
                else:
                    counts["no_answer_seen"] += 1
        opened = self.opened
        accepted = opened - counts["refused"] - counts["rejected"]
        return {
            "requested": self.requested,
            "opened": opened,
            "not_opened": self.requested - opened,
            "accepted": accepted,
            "refused": counts["refused"],
            "rejected_with_status": counts["rejected"],
            "rejected_statuses": dict(statuses),
            "reset_other": counts["reset"],
            "reset_codes": dict(resets),
            "answering_stalled": counts["answering"],
            "completed": counts["completed"],
            "cut_off_by_close": counts["cut_off"],
            "no_answer_seen": counts["no_answer_seen"],
            "connections": len(self.connections),
            "closed_by_server": closed,
            "goaways": sum(1 for c in self.connections if c.goaway_last_stream is not None),
            "eof": sum(1 for c in self.connections if c.eof),
            "reset_by_peer": sum(1 for c in self.connections if c.reset_by_peer),
            "parse_errors": sum(1 for c in self.connections if c.parse_error),
            "advertised_max_concurrent_streams": sorted(
                {c.advertised_max_streams for c in self.connections},
                key=lambda v: (v is None, v)),
            "bytes_read_at_end": sum(c.bytes_read_at_end for c in self.connections),
            "data_bytes": sum(o.data_bytes for c in self.connections for o in c.outcomes.values()),
            "connect_failures": dict(self.connect_failures),
            "send_failures": dict(self.send_failures),
        }


# --------------------------------------------------------------------------------------------
# Reporting


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def fmt_delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "n/a"
    return f"{value - base:+.0f} MiB"


def describe(name: str, m: Measurement) -> str:
    rate = m.calls_per_second
    line = (f"{name} p50 {fmt_ms(m.percentile(0.5))}  p99 {fmt_ms(m.percentile(0.99))}  "
            f"{'n/a' if rate is None else f'{rate:.0f}'} calls/s  ({len(m.latencies_ms)} calls")
    failed = sum(m.failures.values())
    if failed:
        line += f", {failed} failed"
    if m.cut_short:
        line += f", cut short: {m.cut_short}"
    return line + ")"


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        split = argv.index("--")
        own, extra = argv[:split], argv[split + 1:]
    else:
        own, extra = argv, []
    parser = argparse.ArgumentParser(
        description="Slow-reader benchmark of the single-window gRPC server.",
        epilog="Arguments after `--` are appended to the server's command line.")
    parser.add_argument("binary", nargs="?", default=None,
                        help=f"server binary (default: {DEFAULT_BINARY} under the repository root)")
    parser.add_argument("--calls", type=int, default=2000, help="GetService calls per measurement")
    parser.add_argument("--warmup", type=int, default=50,
                        help="uncounted GetService calls before each measurement")
    parser.add_argument("--streams", type=int, default=2000, help="slow ListServices streams")
    parser.add_argument("--connections", type=int, default=20,
                        help="connections to spread the slow streams over")
    parser.add_argument("--max-connections", type=int, default=500,
                        help="most connections to open when the server limits streams per connection")
    parser.add_argument("--window", type=int, default=1024,
                        help="HTTP/2 initial stream window of the slow readers (bytes)")
    parser.add_argument("--rcvbuf", type=int, default=4096,
                        help="SO_RCVBUF of the slow readers (bytes; the kernel doubles it)")
    parser.add_argument("--hold", type=float, default=3.0,
                        help="seconds to wait after opening the readers before measuring")
    parser.add_argument("--hold-max", type=float, default=60.0,
                        help="seconds at most to wait for the server's RSS to stop growing after "
                             "--hold before measuring")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to wait after disconnecting the readers")
    parser.add_argument("--call-timeout", type=float, default=5.0, help="seconds per call")
    parser.add_argument("--phase-timeout", type=float, default=180.0,
                        help="seconds at most per GetService measurement")
    parser.add_argument("--ready-timeout", type=float, default=120.0,
                        help="seconds to wait for the server to be SERVING")
    parser.add_argument("--rss-limit-mib", type=float, default=8192.0,
                        help="disconnect the readers early if the server's RSS passes this")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = parser.parse_args(own)
    for name in ("calls", "streams", "connections", "max_connections", "window", "rcvbuf"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.window > 2**31 - 1:
        parser.error("--window must be below 2^31")
    return args, extra


def hold(server: Server, sampler: RssSampler, minimum: float, maximum: float) -> float:
    """Waits at least `minimum` seconds, then until the server's RSS has moved by less than 2 MiB
    over the last second (it has produced what it will produce), at most `maximum` seconds.
    Returns the seconds waited."""
    started = time.monotonic()
    history: deque[tuple[float, float]] = deque()
    while not sampler.over_limit.is_set():
        now = time.monotonic()
        value = server.rss()
        if value is not None:
            history.append((now, value))
        while history and now - history[0][0] > 1.0:
            history.popleft()
        waited = now - started
        if waited >= maximum:
            break
        if waited >= minimum and history and now - history[0][0] >= 0.9 and (
                max(v for _, v in history) - min(v for _, v in history) < 2.0):
            break
        time.sleep(0.1)
    return time.monotonic() - started


def raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str]) -> int:
    args, extra = parse_arguments(argv)
    binary = args.binary or os.path.join(REPO_ROOT, DEFAULT_BINARY)
    binary = os.path.abspath(binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        log(f"no executable server binary at {binary}")
        return 1
    raise_file_limit(args.max_connections + 256)

    workdir = tempfile.mkdtemp(prefix="slow-readers-")
    server = Server(binary, extra, workdir)
    readers: SlowReaders | None = None
    results: dict = {"parameters": {k: v for k, v in vars(args).items() if k != "json"},
                     "server_command": server.command}
    try:
        log("starting:", " ".join(server.command))
        server.start()
        try:
            server.wait_listening(30.0)
            ready_after = server.wait_ready(args.ready_timeout)
        except RuntimeError as error:
            log(f"server did not start: {error}")
            for line in server.lines:
                print("    " + line, file=sys.stderr)
            return 1
        log(f"server pid {server.pid} on port {server.port}, SERVING after {ready_after:.1f} s")

        # 1. idle memory
        time.sleep(0.5)
        rss_idle = server.rss()
        log(f"RSS idle {fmt_mib(rss_idle)}")

        # 2. baseline
        log(f"baseline: {args.calls} GetService calls ({args.warmup} warm-up)")
        baseline = measure_get_service(server.port, args.calls, args.warmup,
                                       args.call_timeout, args.phase_timeout)
        rss_after_baseline = server.rss()
        log(describe("baseline:", baseline))
        if baseline.failures or baseline.cut_short or not baseline.latencies_ms:
            for kind, count in baseline.failures.most_common():
                log(f"  baseline failure x{count}: {kind}")
            log("baseline GetService calls failed: not a usable benchmark")
            return 1

        # 3. slow readers
        sampler = RssSampler(server, 0.5, args.rss_limit_mib).start()
        readers = SlowReaders(server.port, args.window, args.rcvbuf, timeout=10.0)
        opening = time.monotonic()
        readers.open(args.streams, args.connections, args.max_connections, stop=sampler.over_limit)
        log(f"slow readers: {readers.opened} of {args.streams} streams opened on "
            f"{len(readers.connections)} connections in {time.monotonic() - opening:.1f} s "
            f"(server advertises max concurrent streams: "
            f"{sorted({c.advertised_max_streams for c in readers.connections}, key=str)})")
        for kind, count in readers.connect_failures.most_common():
            log(f"  connection not used x{count}: {kind}")
        for kind, count in readers.send_failures.most_common():
            log(f"  streams not sent x{count}: {kind}")

        held = hold(server, sampler, args.hold, args.hold_max)
        states_before, queued_before = readers.socket_states()
        log(f"held {held:.1f} s: server RSS {fmt_mib(server.rss())}, connection states "
            f"{dict(states_before)}, {queued_before} bytes unread in client buffers")

        # 4. GetService with the readers held
        with_readers = Measurement(cut_short="not run: server memory limit or server gone")
        if not sampler.over_limit.is_set():
            log(f"with readers: {args.calls} GetService calls ({args.warmup} warm-up)")
            with_readers = measure_get_service(server.port, args.calls, args.warmup,
                                               args.call_timeout, args.phase_timeout,
                                               stop=sampler.over_limit)
        states_after, queued_after = readers.socket_states()
        sampler.stop()
        rss_peak = sampler.peak
        log(describe("with readers:", with_readers))
        for kind, count in with_readers.failures.most_common():
            log(f"  failure x{count}: {kind}")
        cut_short = None
        if sampler.server_died:
            cut_short = "the server died while the readers were held"
        elif sampler.over_limit.is_set():
            cut_short = f"server RSS passed --rss-limit-mib {args.rss_limit_mib:.0f}"
        if cut_short:
            log("readers phase cut short:", cut_short)

        # 5. what the readers got, then disconnect
        readers.drain()
        tally = readers.tally()
        readers.close()
        log(f"readers disconnected; waiting {args.settle:.1f} s")
        time.sleep(args.settle)
        rss_after = server.rss()
        server_alive = server.alive()

        # 6. summary
        p99_without = baseline.percentile(0.99)
        p99_with = with_readers.percentile(0.99)
        ratio = p99_with / p99_without if p99_with and p99_without else None
        growth = rss_peak - rss_idle if rss_peak is not None and rss_idle is not None else None
        results.update({
            "ready_after_s": ready_after,
            "held_s": held,
            "baseline": baseline.as_dict(),
            "with_readers": with_readers.as_dict(),
            "p99_ratio": ratio,
            "readers": tally,
            "tcp_states_after_hold": dict(states_before),
            "tcp_states_after_measurement": dict(states_after),
            "unread_client_bytes_after_hold": queued_before,
            "rss_mib": {
                "idle": rss_idle, "after_baseline": rss_after_baseline, "peak_with_readers": rss_peak,
                "growth_with_readers": growth, "after_disconnect": rss_after,
                "samples": [round(v, 1) for _, v in sampler.samples],
            },
            "cut_short": cut_short,
            "server_alive_at_end": server_alive,
            "server_log_levels": dict(server.log_counts),
        })

        print()
        print(f"slow-reader benchmark: streams={args.streams} connections={args.connections} "
              f"(opened={tally['opened']} on {tally['connections']} connections, "
              f"accepted={tally['accepted']}, refused={tally['refused']}, "
              f"closed_by_server={tally['closed_by_server']})")
        rejected = "".join(f" {n}x{c}" for n, c in tally["rejected_statuses"].items())
        resets = "".join(f" {n}x{c}" for n, c in tally["reset_codes"].items())
        limits = ", ".join("none advertised" if v is None else str(v)
                           for v in tally["advertised_max_concurrent_streams"])
        print(f"  slow streams: {tally['answering_stalled']} answering (stalled on flow control), "
              f"{tally['completed']} completed, {tally['cut_off_by_close']} cut off by the "
              f"server closing the connection, {tally['rejected_with_status']} rejected{rejected}, "
              f"{tally['reset_other']} reset{resets}, {tally['no_answer_seen']} with no answer "
              f"seen, {tally['not_opened']} not opened; {tally['data_bytes']} DATA bytes reached "
              f"them")
        failed_connects = sum(tally["connect_failures"].values())
        print(f"  server SETTINGS_MAX_CONCURRENT_STREAMS: {limits or 'n/a'}; connections closed "
              f"by the server: {tally['goaways']} GOAWAY, {tally['eof']} EOF, "
              f"{tally['reset_by_peer']} TCP reset; {failed_connects} connection attempts failed "
              f"(no connect or no SETTINGS in time)")
        print(describe("GetService alone:       ", baseline))
        ratio_text = "n/a" if ratio is None else f"{ratio:.2f}"
        print(describe("GetService with readers:", with_readers)
              + f"  (p99 ratio {ratio_text}; target <= 5)")
        print(f"RSS idle {fmt_mib(rss_idle)}, after baseline {fmt_mib(rss_after_baseline)}, "
              f"peak with readers {fmt_mib(rss_peak)} ({fmt_delta(rss_peak, rss_idle)}; "
              f"target <= +200 MiB), after disconnect {fmt_mib(rss_after)} "
              f"({fmt_delta(rss_after, rss_idle)})")
        if cut_short:
            print(f"NOTE: readers phase cut short: {cut_short}")
        if not server_alive:
            print(f"NOTE: the server exited (status {server.process.returncode}) during the benchmark")
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if readers is not None:
            readers.close()
        status = server.stop()
        if status not in (None, 0) and results.get("baseline"):
            log(f"server exit status {status}")
        results["server_exit_status"] = status
        shutil.rmtree(workdir, ignore_errors=True)
        if args.json and "baseline" in results:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(results, out, indent=2, default=str)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
