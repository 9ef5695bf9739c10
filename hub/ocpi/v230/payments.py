"""Payments module objects of OCPI 2.3.0 (2.3.0 §16; data owner PTP): Terminal and
FinancialAdviceConfirmation.

2.2.1 has no such module, so nothing here is translated: the hub routes it only between 2.3.0
platforms. The Structs say what a body must hold to be read at all; where the spec's own text
or examples allow less than the object table (noted per class), they allow it too.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, Object, PartyId
from hub.ocpi.locations import GeoLocation
from hub.ocpi.v230.common import TaxAmount

INVOICE_CREATORS: Final = frozenset({"CPO", "PTP"})  # §16 InvoiceCreator
CAPTURE_STATUS_CODES: Final = frozenset({"SUCCESS", "PARTIAL_SUCCESS", "FAILED"})


class _TerminalFields(Object, kw_only=True):
    customer_reference: str | None = None
    party_id: PartyId | None = None
    country_code: CountryCode | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    coordinates: GeoLocation | None = None
    invoice_base_url: str | None = None
    invoice_creator: str | None = None  # InvoiceCreator
    reference: str | None = None
    location_ids: list[str] | None = None
    evse_uids: list[str] | None = None


class Terminal(_TerminalFields, kw_only=True):
    """§16 Terminal object: what GET answers and PUT sends."""

    terminal_id: str
    last_updated: DateTime


class TerminalUpdate(_TerminalFields, kw_only=True):
    """The CPO's PUT ``{terminals}/{terminal_id}``: the URL names the terminal (§16, PTP
    Terminals PUT, request parameters), and the spec's own example of it
    (payment_terminal_put_update.json) has no ``terminal_id``; one given must be the URL's."""

    terminal_id: str | None = None
    last_updated: DateTime


class NewTerminal(_TerminalFields, kw_only=True):
    """The PTP's POST creating a Terminal at the CPO: "can be just the terminal id" (§16, CPO
    Terminals POST), so ``last_updated`` may be absent."""

    terminal_id: str
    last_updated: DateTime | None = None


class TerminalActivation(_TerminalFields, kw_only=True):
    """The CPO's POST ``{terminals}/activate``: "The terminal_id is optional in the activation
    request as it will be set by the PTP. The cardinality for the remaining fields stays the
    same." (§16)."""

    terminal_id: str | None = None
    last_updated: DateTime


class CapturedPrice(Object, kw_only=True):
    """``total_costs`` of a FinancialAdviceConfirmation: a 2.3.0 Price by the object table, but
    every example of the spec writes the 2.2.1 shape ``{excl_vat, incl_vat}``
    (tests/examples/NOTICE.md). Both are read, as 2.3.0 asks receivers not to reject what they
    can understand (§4.1.8); one of the two net amounts must be there."""

    before_taxes: float | None = None
    taxes: list[TaxAmount] | None = None
    excl_vat: float | None = None
    incl_vat: float | None = None

    def __post_init__(self) -> None:
        if self.before_taxes is None and self.excl_vat is None:
            raise ValueError("a Price needs before_taxes")


class FinancialAdviceConfirmation(Object, kw_only=True):
    """§16 FinancialAdviceConfirmation object."""

    id: str
    authorization_reference: str
    total_costs: CapturedPrice
    currency: str
    # "+" in the object table, but the spec's failure example has none: a failed capture has
    # no EFT data to report.
    eft_data: list[str] | None = None
    capture_status_code: str  # CaptureStatusCode
    capture_status_message: str | None = None
    last_updated: DateTime
