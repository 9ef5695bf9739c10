"""Commands module objects of OCPI 2.3.0 (2.3.0 §13): the 2.2.1 objects. CommandType became an
OpenEnum (§13.4.3) without new values; CommandResponseType and CommandResultType stay closed."""

from __future__ import annotations

from hub.ocpi.commands import COMMAND_REQUESTS as COMMAND_REQUESTS
from hub.ocpi.commands import COMMAND_RESPONSE_TYPES as COMMAND_RESPONSE_TYPES
from hub.ocpi.commands import COMMAND_RESULT_TYPES as COMMAND_RESULT_TYPES
from hub.ocpi.commands import COMMAND_TYPES as COMMAND_TYPES
from hub.ocpi.commands import CommandResponse as CommandResponse
from hub.ocpi.commands import CommandResult as CommandResult
