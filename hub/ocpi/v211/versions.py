"""Versions module objects (2.1.1 version_information_endpoint.md): an Endpoint is
``{identifier, url}`` only. 2.2.1 added ``role`` (2.2.1 "Versions module", Endpoint class:
"Older versions of OCPI do not support this"), so the hub's 2.1.1 version details leave it out
rather than send it as null.
"""

from __future__ import annotations

import msgspec

from hub.ocpi.versions import Url


class Endpoint(msgspec.Struct, frozen=True):
    identifier: str
    url: Url


class VersionDetails(msgspec.Struct, frozen=True):
    version: str
    endpoints: list[Endpoint]
