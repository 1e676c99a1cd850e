"""The gateway's server protocol: a response head waits for its body so both leave in one write."""

from __future__ import annotations

import asyncio
from typing import Any

from services.gateway.server import CoalescingTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.writes.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 7


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    real = RecordingTransport()
    return CoalescingTransport(real, asyncio.get_running_loop()), real  # type: ignore[arg-type]


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def test_a_head_and_its_body_leave_in_one_write() -> None:
    transport, real = coalescing()
    transport.write(HEAD)
    assert real.writes == []
    transport.write(b"{}")
    assert real.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to send
    assert real.writes == [HEAD + b"{}"]


async def test_a_large_body_follows_the_head_in_the_same_call_and_order() -> None:
    transport, real = coalescing()
    big = b"x" * 100_000
    transport.write(HEAD)
    transport.write(big)
    transport.write(b"tail")
    assert real.writes == [HEAD + big, b"tail"]


async def test_a_head_alone_goes_out_on_the_next_loop_iteration() -> None:
    transport, real = coalescing()
    transport.write(HEAD)  # a streamed response whose first chunk is not ready yet
    await asyncio.sleep(0)
    assert real.writes == [HEAD]
    transport.write(b"chunk")
    assert real.writes == [HEAD, b"chunk"]


async def test_closing_sends_a_held_head_first() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert real.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert real.closed and transport.is_closing()


async def test_anything_else_passes_through() -> None:
    transport, real = coalescing()
    transport.write(b"body bytes")
    assert real.writes == [b"body bytes"]
    assert transport.get_write_buffer_size() == 7
