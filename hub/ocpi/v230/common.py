"""Types shared by several OCPI 2.3.0 modules (2.3.0 §17 "Types").

2.3.0 replaces the 2.2.1 ``Price {excl_vat, incl_vat}`` with ``Price {before_taxes, taxes}``
(2.3.0 §17.8, §17.9): every cost of a Session or CDR changes shape.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from hub.ocpi.common import Object

# 2.3.0 §17.10 Role: HUB is gone (a hub names itself in Credentials.hub_party_id); PTP, the
# Payments module's data owner (2.3.0 §16), is not in the table but is used by it.
ROLES: Final = frozenset({"CPO", "EMSP", "NAP", "NSP", "OTHER", "SCSP", "PTP"})

# Credentials.hub_party_id, CiString(5): country code and party id concatenated (2.3.0 §7.3.1).
HubPartyId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{5}\Z")]


class TaxAmount(Object, kw_only=True):
    """2.3.0 §17.9."""

    name: str  # e.g. "VAT", or "QST" where a tax must be named
    account_number: str | None = None
    percentage: float | None = None
    amount: float


class Price(Object, kw_only=True):
    """2.3.0 §17.8."""

    before_taxes: float
    taxes: list[TaxAmount] | None = None
