"""The accounts service's own table registry: its tables never share a metadata with another service's."""

from __future__ import annotations

from sqlmodel import SQLModel

from services.common.db import new_registry
from services.common.events.store import Inbox, Outbox


class AccountsBase(SQLModel, registry=new_registry()):
    """Base of every table of this service."""


metadata = AccountsBase.metadata
#: Events this service publishes, written in the same transaction as the change they describe.
outbox = Outbox(metadata, source="accounts")
#: Ids of events this service has applied, written in the same transaction as the effect.
inbox = Inbox(metadata)
