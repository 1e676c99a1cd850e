from __future__ import annotations

from services.analytics.privacy.service import personal_tables
from services.common.privacy import export_router

router = export_router(personal_tables)
