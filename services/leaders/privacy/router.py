from __future__ import annotations

from services.common.privacy import export_router
from services.leaders.privacy.service import personal_tables

router = export_router(personal_tables)
