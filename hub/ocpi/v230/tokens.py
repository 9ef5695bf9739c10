"""Tokens module objects of OCPI 2.3.0 (2.3.0 §12): the 2.2.1 objects, unchanged but for
TokenType, an OpenEnum that adds ``EMAID`` (§12.4.4: eMSPs are advised not to push EMAID tokens;
a CPO authorizes them in real time)."""

from __future__ import annotations

from typing import Final

from hub.ocpi import tokens as v221
from hub.ocpi.tokens import AuthorizationInfo as AuthorizationInfo
from hub.ocpi.tokens import LocationReferences as LocationReferences
from hub.ocpi.tokens import Token as Token

TOKEN_TYPES: Final = v221.TOKEN_TYPES | {"EMAID"}
