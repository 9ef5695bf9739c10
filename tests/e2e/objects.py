"""Valid OCPI 2.2.1 objects for routing tests, built for the parties a test uses."""

from __future__ import annotations

from typing import Any

from tests.parties import RecordedRequest

PartyKey = tuple[str, str]


def cdr_token(emsp: tuple[str, str], uid: str = "TOKEN-1") -> dict[str, Any]:
    return {
        "country_code": emsp[0],
        "party_id": emsp[1],
        "uid": uid,
        "type": "RFID",
        "contract_id": f"{emsp[0]}-{emsp[1]}-C12345678",
    }


def session(cpo: tuple[str, str], session_id: str, emsp: tuple[str, str]) -> dict[str, Any]:
    return {
        "country_code": cpo[0],
        "party_id": cpo[1],
        "id": session_id,
        "start_date_time": "2026-11-24T10:00:00Z",
        "kwh": 0,
        "cdr_token": cdr_token(emsp),
        "auth_method": "WHITELIST",
        "location_id": "LOC-1",
        "evse_uid": "EVSE-1",
        "connector_id": "1",
        "currency": "EUR",
        "status": "ACTIVE",
        "last_updated": "2026-11-24T10:00:00Z",
    }


def cdr(cpo: tuple[str, str], cdr_id: str, emsp: tuple[str, str]) -> dict[str, Any]:
    return {
        "country_code": cpo[0],
        "party_id": cpo[1],
        "id": cdr_id,
        "start_date_time": "2026-11-24T10:00:00Z",
        "end_date_time": "2026-11-24T11:00:00Z",
        "cdr_token": cdr_token(emsp),
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": "LOC-1",
            "address": "Street 1",
            "city": "Town",
            "country": "NLD",
            "coordinates": {"latitude": "52.0", "longitude": "4.0"},
            "evse_uid": "EVSE-1",
            "evse_id": "NL*CPA*E1",
            "connector_id": "1",
            "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET",
            "connector_power_type": "AC_3_PHASE",
        },
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": "2026-11-24T10:00:00Z",
                "dimensions": [{"type": "ENERGY", "volume": 10}],
            }
        ],
        "total_cost": {"excl_vat": 5.0},
        "total_energy": 10,
        "total_time": 1,
        "last_updated": "2026-11-24T11:00:00Z",
    }


def token(emsp: tuple[str, str], uid: str) -> dict[str, Any]:
    return {
        "country_code": emsp[0],
        "party_id": emsp[1],
        "uid": uid,
        "type": "RFID",
        "contract_id": f"{emsp[0]}-{emsp[1]}-C00000001",
        "issuer": "eMSP",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-11-24T10:00:00Z",
    }


def location(cpo: tuple[str, str], location_id: str) -> dict[str, Any]:
    return {
        "country_code": cpo[0],
        "party_id": cpo[1],
        "id": location_id,
        "publish": True,
        "address": "Street 1",
        "city": "Town",
        "country": "NLD",
        "coordinates": {"latitude": "52.0", "longitude": "4.0"},
        "time_zone": "Europe/Amsterdam",
        "last_updated": "2026-11-24T10:00:00Z",
    }


def command_response(request: RecordedRequest) -> tuple[Any, ...] | None:
    """A fake CPO's answer to a command or a charging profile: ACCEPTED, timeout 30 s."""
    if "/commands/receiver/" in request.path or "/chargingprofiles/receiver/" in request.path:
        return (
            200,
            {
                "data": {"result": "ACCEPTED", "timeout": 30},
                "status_code": 1000,
                "timestamp": "2026-11-24T10:00:00Z",
            },
        )
    return None
