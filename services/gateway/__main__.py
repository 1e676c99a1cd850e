"""`python -m services.gateway`: serve the gateway on GATEWAY_HOST:GATEWAY_PORT.

Same as `uvicorn --factory services.gateway.app:create_app --port 8000 --no-access-log`: the services log every
request with the request id the gateway forwards, so an access log here would only double the lines and cost a
large share of the gateway's time per request.
"""

from __future__ import annotations

import uvicorn

from services.gateway.config import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "services.gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
