"""Real devices for the on-site warning tests: a pymodbus TCP server (a strobe's coils) and an HTTP
server standing where an IP speaker would, each on a free port in this process, recording what
they receive with the time it came."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.ports import free_port


@dataclass
class CoilWrite:
    unit: int
    address: int
    value: bool
    t: float  # time.time() when the server received it


@dataclass
class ModbusDevice:
    host: str
    port: int
    unit: int = 1
    writes: list[CoilWrite] = field(default_factory=list)

    def coil(self, address: int) -> bool:
        """The coil's value as the device holds it now (read over Modbus, like a SCADA would)."""
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient(self.host, port=self.port, timeout=2, retries=0)
        try:
            assert client.connect(), "the test's Modbus server does not answer"
            rr = client.read_coils(address, count=1, device_id=self.unit)
            assert not rr.isError(), rr
            return bool(rr.bits[0])
        finally:
            client.close()


@contextmanager
def modbus_server(coils: int = 16, unit: int = 1) -> Iterator[ModbusDevice]:
    """A pymodbus TCP server (one device, ``coils`` coils, all off) on a free port."""
    from pymodbus.pdu.bit_message import WriteSingleCoilRequest
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    port = free_port()
    device = ModbusDevice("127.0.0.1", port, unit)

    def bits() -> list[SimData]:
        return [SimData(0, values=[False] * coils, datatype=DataType.BITS)]

    def regs() -> list[SimData]:
        return [SimData(0, values=[0] * 4, datatype=DataType.REGISTERS)]

    sim = SimDevice(id=unit, simdata=(bits(), bits(), regs(), regs()))

    def trace(sending: bool, pdu: Any) -> Any:
        if not sending and isinstance(pdu, WriteSingleCoilRequest):
            device.writes.append(CoilWrite(pdu.dev_id, pdu.address, bool(pdu.bits[0]), time.time()))
        return pdu

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    servers: list[Any] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def serve() -> None:
            server = ModbusTcpServer(sim, address=("127.0.0.1", port), trace_pdu=trace)
            servers.append(server)
            task = asyncio.create_task(server.serve_forever())
            ready.set()
            await task

        with suppress(asyncio.CancelledError):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=run, name="modbus-server", daemon=True)
    thread.start()
    ready.wait(5)
    deadline = time.monotonic() + 5
    from tests.support.procs import port_open

    while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield device
    finally:
        asyncio.run_coroutine_threadsafe(servers[0].shutdown(), loop).result(5)
        thread.join(5)


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    t: float


@dataclass
class SpeakerServer:
    url: str
    requests: list[HttpRequest] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0  # answer this late (a slow speaker)


@contextmanager
def speaker_server() -> Iterator[SpeakerServer]:
    """An HTTP server on a free port that keeps every request (method, path, headers, body)."""
    port = free_port()
    speaker = SpeakerServer(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def _take(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            speaker.requests.append(
                HttpRequest(self.command, self.path, dict(self.headers.items()), body, time.time())
            )
            if speaker.delay_s:
                time.sleep(speaker.delay_s)
            self.send_response(speaker.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _take

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="speaker-http", daemon=True)
    thread.start()
    try:
        yield speaker
    finally:
        server.shutdown()
        server.server_close()
