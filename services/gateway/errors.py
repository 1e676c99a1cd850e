"""What can go wrong on the upstream hop: the proxy turns each into one problem response naming the service."""

from __future__ import annotations


class UpstreamError(Exception):
    """The upstream could not give an answer."""


class UpstreamUnreachable(UpstreamError):
    """Nothing accepted the connection (refused, unknown host)."""


class UpstreamTimedOut(UpstreamError):
    """Connected, or trying to, but no answer in time."""


class UpstreamBroken(UpstreamError):
    """The upstream closed the connection or sent something that is not HTTP."""
