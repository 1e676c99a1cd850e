"""The production path, for real: the gateway and a stand-in service as separate uvicorn processes on loopback.

This proves the pooled HTTP/1.1 client and the gateway's server protocol (the in-process tests use
httpx.ASGITransport instead): forwarding, streaming both ways, 503 for a service that is not listening and 504 for
one that is too slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.common.testing import bearer, free_port, jwks_url_for_tests, sign_test_token

REPO = Path(__file__).resolve().parents[2]
# A deadline, not a duration: the tests wait for the health URL and stop as soon as it answers.
START_TIMEOUT = 90.0
TOKEN = bearer("u1", ["customer"])["Authorization"]


def start_uvicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app,
        "--app-dir",
        str(REPO),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, cwd=REPO, env={**os.environ, **env})


def wait_until_serving(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    upstream_port, gateway_port = free_port(), free_port()
    nobody = f"http://127.0.0.1:{free_port()}"  # bound and released: nothing listens there
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(start_uvicorn("tests.gateway.gateway_upstream_app:create_app", upstream_port, {}))
        # The gateway exactly as it ships: its own entry point, server protocol and uvicorn options.
        gateway_env = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_ORDERS_URL": f"http://127.0.0.1:{upstream_port}",
            "GATEWAY_LEADERS_URL": nobody,
            "GATEWAY_POINTS_URL": nobody,
            "GATEWAY_ACCOUNTS_URL": nobody,
            "GATEWAY_ANALYTICS_URL": nobody,
            "GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS": "0.5",
            "AUTH_JWKS_URL": jwks_url_for_tests(),
        }
        command = [sys.executable, "-m", "services.gateway"]
        processes.append(subprocess.Popen(command, cwd=REPO, env={**os.environ, **gateway_env}))
        wait_until_serving(processes[0], f"http://127.0.0.1:{upstream_port}/healthz")
        wait_until_serving(processes[1], f"http://127.0.0.1:{gateway_port}/healthz")
        yield f"http://127.0.0.1:{gateway_port}"
    finally:
        for process in processes:
            stop(process)


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as c:
        yield c


async def test_a_resource_is_fetched_through_the_real_client(client: httpx.AsyncClient) -> None:
    for product_id in (1, 2, 3):  # several requests over the pooled connection
        response = await client.get(f"/api/v1/products/{product_id}")
        assert response.status_code == 200
        assert response.json() == {"id": product_id, "name": "apples 5kg", "price_fen": 2990}
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        assert len(response.headers.get_list("date")) == 1
        assert len(response.headers.get_list("server")) == 1


async def test_headers_body_and_query_reach_the_real_upstream(client: httpx.AsyncClient) -> None:
    body = bytes(range(256)) * 64
    response = await client.post(
        "/api/v1/orders/echo?b=2&a=%E8%8B%B9",
        content=body,
        headers={
            "Authorization": TOKEN,
            "Idempotency-Key": "k-1",
            "X-Payment-Signature": "abc123",
            "X-Request-Id": "real-1",
            "X-Forwarded-For": "203.0.113.7",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "secret",
        },
    )
    echo = response.json()
    received = {name: value for name, value in echo["headers"]}
    assert received["authorization"] == TOKEN
    assert received["idempotency-key"] == "k-1"
    assert received["x-payment-signature"] == "abc123"
    assert received["x-request-id"] == "real-1"
    # The caller's chain plus the peer, once: uvicorn's proxy-headers rewrite is off in the gateway, or a trusted
    # peer's X-Forwarded-For would become the client and be appended a second time.
    assert received["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert "x-hop" not in received and "user-agent" in received  # the caller's, not one aiohttp made up
    assert received["user-agent"].startswith("python-httpx")
    assert echo["query"] == "b=2&a=%E8%8B%B9"
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert response.headers["x-request-id"] == "real-1"


async def test_a_streamed_upload_and_a_streamed_download_pass_through(client: httpx.AsyncClient) -> None:
    chunks = [os.urandom(50_000) for _ in range(8)]

    async def upload() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    # Signed in: 400 kB is more than an anonymous caller may send.
    echo = (await client.post("/api/v1/orders/echo", content=upload(), headers={"Authorization": TOKEN})).json()
    whole = b"".join(chunks)
    assert (echo["body_length"], echo["body_sha256"]) == (len(whole), hashlib.sha256(whole).hexdigest())

    download = await client.get("/api/v1/orders/export", params={"size": 1_000_000})
    assert download.status_code == 200
    assert download.content == (bytes(range(256)) * 256 * 16)[:1_000_000]


async def test_a_service_that_is_not_listening_gives_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/points/me")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response.json()["service"] == "points"


async def test_a_slow_service_gives_504(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get("/api/v1/orders/slow", params={"seconds": 3})
    assert response.status_code == 504
    assert response.json()["code"] == "UPSTREAM_TIMEOUT"
    assert response.json()["service"] == "orders"
    assert time.monotonic() - started < 2.5
    assert (await client.get("/api/v1/products/1")).status_code == 200  # and the gateway is fine afterwards


async def test_internal_routes_stay_unreachable(client: httpx.AsyncClient) -> None:
    for target in ("/internal/x", "/api/v1/products/../../internal/x"):
        request = client.build_request("GET", target)
        request.url = request.url.copy_with(raw_path=target.encode())
        response = await client.send(request)
        assert response.status_code == 404
        assert "secret" not in response.text


async def test_the_merged_document_comes_through_the_real_client(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "/api/v1/products/{product_id}" in doc["paths"]
    assert "/internal/x" not in doc["paths"]
    assert doc["x-missing-services"] == ["accounts", "analytics", "leaders", "points"]


async def test_an_unhandled_error_upstream_never_breaks_another_callers_request(gateway_url: str) -> None:
    """Crashing requests and honest ones interleaved over the gateway's pooled connections: the crashes answer 500,
    and not one honest POST gets a 502 from a connection the crash left half-closed."""
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=10) as crasher,
        httpx.AsyncClient(base_url=gateway_url, timeout=10) as honest,
    ):

        async def crash() -> int:
            return (await crasher.post("/api/v1/orders/crash", json={})).status_code

        async def order(i: int) -> int:
            return (await honest.post("/api/v1/orders/echo", json={"i": i})).status_code

        statuses: list[int] = []
        for round_ in range(20):
            statuses += await asyncio.gather(crash(), order(round_), crash(), order(round_ + 100))
    crashes = statuses[0::2]
    honest_statuses = statuses[1::2]
    assert set(crashes) == {500}
    assert honest_statuses.count(200) == len(honest_statuses), honest_statuses


async def raw_exchange(gateway_url: str, request: bytes) -> bytes:
    """Send bytes as they are and read the answer to the end (the gateway closes the connection after a 431)."""
    host, port = gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def head_of(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def test_a_header_over_the_limit_gets_431_and_the_connection_closes(gateway_url: str) -> None:
    big = b"x" * 20_000  # over GATEWAY_MAX_HEADER_BYTES' 16 KiB
    answer = await raw_exchange(
        gateway_url, b"GET /api/v1/products/1 HTTP/1.1\r\nHost: g\r\nX-Big: " + big + b"\r\n\r\n"
    )
    status, headers, body = head_of(answer)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert httpx.Response(431, content=body).json()["code"] == "HEADERS_TOO_LARGE"


async def test_many_small_headers_over_the_limit_get_431(client: httpx.AsyncClient) -> None:
    headers = {f"X-Filler-{n}": "y" * 90 for n in range(200)}  # 200 headers of about 100 bytes each
    response = await client.get("/api/v1/products/1", headers=headers)
    assert response.status_code == 431
    assert response.json()["code"] == "HEADERS_TOO_LARGE"


async def test_a_head_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    headers = {f"X-Filler-{n}": "y" * 90 for n in range(140)}  # about 14 kB
    assert (await client.get("/api/v1/products/1", headers=headers)).status_code == 200


async def test_a_token_over_the_verifiers_size_limit_is_401_at_the_gateway(client: httpx.AsyncClient) -> None:
    huge = "Bearer " + sign_test_token("u1", ["customer"], pad="p" * 5000)  # validly signed, only too large
    assert len(huge) > 4096
    response = await client.post("/api/v1/orders/echo", headers={"Authorization": huge}, json={})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"
    assert response.headers["www-authenticate"] == "Bearer"
