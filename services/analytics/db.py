"""The analytics service's own table registry: its tables never share a metadata with another service's."""

from __future__ import annotations

from sqlmodel import SQLModel

from services.common.db import new_registry
from services.common.events.store import Inbox, Outbox


class AnalyticsBase(SQLModel, registry=new_registry()):
    """Base of every table of this service."""


metadata = AnalyticsBase.metadata
#: Analytics publishes nothing yet; the outbox is part of every service's event wiring.
outbox = Outbox(metadata, source="analytics")
#: Ids of events this service has applied, written in the same transaction as the effect.
inbox = Inbox(metadata)
