"""ChargingProfiles module objects (2.2.1 "ChargingProfiles module").

The SCSP/eMSP sends SetChargingProfile (PUT), or asks by GET/DELETE with a ``response_url``
query parameter; the CPO answers with ChargingProfileResponse and later POSTs one of the
``*Result`` objects to the ``response_url``. The CPO also PUTs ActiveChargingProfile updates.
See ``hub.ocpi.common`` for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import DateTime, Object

CHARGING_RATE_UNITS: Final = frozenset({"W", "A"})
CHARGING_PROFILE_RESPONSE_TYPES: Final = frozenset(
    {"ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION"}
)
CHARGING_PROFILE_RESULT_TYPES: Final = frozenset({"ACCEPTED", "REJECTED", "UNKNOWN"})


class ChargingProfilePeriod(Object, kw_only=True):
    start_period: int  # seconds from the start of the profile
    limit: float


class ChargingProfile(Object, kw_only=True):
    start_date_time: DateTime | None = None
    duration: int | None = None  # seconds
    charging_rate_unit: str  # ChargingRateUnit
    min_charging_rate: float | None = None
    charging_profile_period: list[ChargingProfilePeriod] | None = None


class SetChargingProfile(Object, kw_only=True):
    charging_profile: ChargingProfile
    response_url: str


class ActiveChargingProfile(Object, kw_only=True):
    start_date_time: DateTime
    charging_profile: ChargingProfile


class ChargingProfileResponse(Object, kw_only=True):
    """The CPO's synchronous answer to GET, PUT and DELETE."""

    result: str  # ChargingProfileResponseType
    timeout: int  # seconds


class ActiveChargingProfileResult(Object, kw_only=True):
    """Result of GET {session_id}?duration=…&response_url=…"""

    result: str  # ChargingProfileResultType
    profile: ActiveChargingProfile | None = None


class ChargingProfileResult(Object, kw_only=True):
    """Result of PUT {session_id} with a SetChargingProfile."""

    result: str  # ChargingProfileResultType


class ClearProfileResult(Object, kw_only=True):
    """Result of DELETE {session_id}?response_url=…"""

    result: str  # ChargingProfileResultType
