"""The gateway: one public entry point that routes `/api/v1/...` prefixes to the service owning them.

Proxied requests are forwarded by a pure ASGI reverse proxy (`proxy.py`) over one pooled HTTP/1.1 client (`http1.py`,
httptools-parsed keep-alive connections); only the gateway's own endpoints (auth, merged OpenAPI document, docs
pages, health) go through FastAPI.
"""
