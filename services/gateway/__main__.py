"""`python -m services.gateway`: serve the gateway on GATEWAY_HOST:GATEWAY_PORT.

Same as `uvicorn --factory services.gateway.app:create_app --port 8000 --no-access-log --loop uvloop
--http services.gateway.server:GatewayHttpProtocol --no-proxy-headers --workers $GATEWAY_WORKERS`. No access log:
the services log every request with the request id the gateway forwards, so an access log here would only double
the lines and cost a large share of the gateway's time per request.
"""

from __future__ import annotations

import uvicorn

from services.gateway.config import get_settings
from services.gateway.server import GatewayHttpProtocol


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # Named rather than "auto": the C event loop and parser are most of why one gateway process keeps up, so a
        # missing one must fail loudly instead of silently halving throughput (both ship with uvicorn[standard]).
        loop="uvloop",
        http=GatewayHttpProtocol,  # uvicorn's httptools protocol, one write per small response
        # The gateway is the edge and builds X-Forwarded-For itself (the caller's chain plus the peer). uvicorn's
        # rewrite would make a trusted peer's X-Forwarded-For the client, which the proxy then appended a second
        # time; it also cost a middleware call per request.
        proxy_headers=False,
        access_log=False,
        log_level=settings.log_level.lower(),
        # On SIGTERM: stop accepting, let requests in flight finish, but never past the pod's grace period.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


if __name__ == "__main__":
    main()
