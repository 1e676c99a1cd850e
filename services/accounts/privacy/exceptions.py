from __future__ import annotations

from services.common.errors import ServiceUnavailable


class ExportSourceUnavailable(ServiceUnavailable):
    code = "EXPORT_SOURCE_UNAVAILABLE"
    title = "A service holding your data could not export it now; nothing partial is given, try again later"
