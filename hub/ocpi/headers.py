"""HTTP header names of OCPI 2.2.1 (transport and format, "Request headers"), lower-case."""

from __future__ import annotations

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
