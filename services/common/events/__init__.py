"""Domain events between services.

- `store`: the envelope, the outbox (written in the producer's transaction) and the inbox (one effect per event id);
- `contract`: the typed payload of every event type and which service owns it;
- `bus`: the one small interface over HTTP push and NATS JetStream, and `build_bus` that picks one from settings;
- `relay`: delivers a service's outbox to the bus (in process, or `python -m services.common.events.relay <svc>`);
- `consumer`: applies an event with its inbox row in one transaction;
- `wiring`: puts these into a service app (internal endpoint, relay job, NATS consumer, ops endpoints).
"""
