"""HTTP header names of OCPI 2.2.1 (transport and format, "Request headers"), lower-case."""

from __future__ import annotations

import os
from typing import Final

AUTHORIZATION: Final = "authorization"
REQUEST_ID: Final = "x-request-id"
CORRELATION_ID: Final = "x-correlation-id"
FROM_COUNTRY_CODE: Final = "ocpi-from-country-code"
FROM_PARTY_ID: Final = "ocpi-from-party-id"
TO_COUNTRY_CODE: Final = "ocpi-to-country-code"
TO_PARTY_ID: Final = "ocpi-to-party-id"
ROUTING: Final = (FROM_COUNTRY_CODE, FROM_PARTY_ID, TO_COUNTRY_CODE, TO_PARTY_ID)

# Pagination (transport and format, "Pagination").
LINK: Final = "link"
TOTAL_COUNT: Final = "x-total-count"
LIMIT: Final = "x-limit"
# The CDR POST answer (cdrs module, receiver interface).
LOCATION: Final = "location"


def new_id() -> str:
    """A new ``X-Request-ID`` or ``X-Correlation-ID`` (2.2.1 transport and format, "Unique
    message IDs"): a random UUID, version 4, as ``str(uuid.uuid4())`` writes it, in a third
    of the time (the hub makes one or two per forwarded call)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
