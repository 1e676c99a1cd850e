"""Named points where a process can be made to die on purpose, for the crash-injection tests.

`CRASH_POINTS="request.after_commit:0.02,relay.after_publish:0.05"` makes the process exit abruptly (`os._exit`,
no cleanup, like a kill -9) with the given probability each time the point is passed; `CRASH_SEED` makes the run
repeatable. Unset (always, outside those tests), a crash point costs one dict lookup.

Points: `request.after_commit` (the change and its outbox row are committed, the response is not sent),
`relay.before_publish` (events read, nothing published), `relay.after_publish` (published, not marked delivered),
`consumer.after_commit` (the effect and inbox row are committed, the ack is not sent).
"""

from __future__ import annotations

import logging
import os
import random

CRASH_EXIT_CODE = 86
log = logging.getLogger("services.crash")


def _load() -> tuple[dict[str, float], random.Random]:
    spec = os.environ.get("CRASH_POINTS", "")
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, probability = item.partition(":")
        points[name] = float(probability or "1")
    seed = os.environ.get("CRASH_SEED")
    return points, random.Random(f"{seed}:{os.getpid()}" if seed else None)


_POINTS, _RANDOM = _load()


def crash_point(name: str) -> None:
    probability = _POINTS.get(name)
    if probability is not None and _RANDOM.random() < probability:
        log.warning("crash point reached: exiting", extra={"crash_point": name})
        os._exit(CRASH_EXIT_CODE)
