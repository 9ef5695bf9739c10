"""The hub's one error tree.

Every error the hub raises on purpose is a ``HubError``: it knows its OCPI status code and its HTTP
status (and, where the admin API answers differently, its admin status), and is rendered in exactly
one place (``hub.web.responses``). Foreign exceptions (redis, the HTTP client, the OS) are
translated into these at the edge of the module that meets them; a body or query that fails
``hub.ocpi.validation`` (``InvalidInputError``, protocol vocabulary that imports nothing of the
hub) becomes one through ``from_validation``.

    HubError                           OCPI  HTTP
    ├── ClientError                    2000  400   the caller's mistake
    │   ├── InvalidParametersError     2001  400   a missing or invalid field, named
    │   ├── NotJsonError               2000  400
    │   ├── UnauthorizedError          2000  401
    │   ├── ForbiddenError             2000  403
    │   ├── NotFoundError              2000  404
    │   │   └── UnknownLocationError   2003  404   no such Location the caller may see
    │   ├── MethodNotAllowedError      2000  405   with Allow
    │   ├── ConflictError              2000  409   admin API
    │   ├── TooManyRequestsError       2000  429   with Retry-After
    │   └── PayloadTooLargeError       2000  413
    ├── ServerError                    3000  500
    │   ├── ClientApiUnusableError     3001  400   (admin API: 502)
    │   ├── UnsupportedVersionError    3002  400   (admin API: 502)
    │   └── NoMatchingEndpointsError   3003  400   (admin API: 502)
    ├── RoutingError                   4000  502   the receiver's or the route's trouble
    │   ├── UnknownReceiverError       4001  404
    │   ├── ReceiverTimeoutError       4002  504
    │   ├── ReceiverUnreachableError   4003  502
    │   ├── ReceiverBrokenError        4000  502   answered, but not in OCPI
    │   │   └── AnswerTooLargeError    4000  502
    │   └── RefusedUrlError            4000  502   the URL guard's refusal
    ├── PlatformError                  3000  502   a call the hub made to a platform failed
    ├── PermanentRefusalError          3000  500   a receiver refused a queued message for good
    ├── StoreUnavailableError          3000  503
    └── StartupError                   3000  500
"""

from __future__ import annotations

from hub.ocpi.status import (
    CLIENT_ERROR,
    HUB_CONNECTION_PROBLEM,
    HUB_GENERIC_ERROR,
    HUB_TIMEOUT,
    HUB_UNKNOWN_RECEIVER,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    SERVER_ERROR,
    UNABLE_TO_USE_CLIENT_API,
    UNKNOWN_LOCATION,
    UNSUPPORTED_VERSION,
)
from hub.ocpi.validation import InvalidInputError


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    ocpi_status: int = SERVER_ERROR
    http_status: int = 500
    # The admin API's HTTP status, where it differs from the OCPI endpoints' (None: the same).
    admin_status: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- client mistakes (2xxx) ---------------------------------------------------------------


class ClientError(HubError):
    ocpi_status = CLIENT_ERROR
    http_status = 400


class InvalidParametersError(ClientError):
    """OCPI 2001: a missing or invalid field; the message names it."""

    ocpi_status = INVALID_PARAMETERS


class NotJsonError(ClientError):
    """The body is not JSON (transport rules: HTTP 400)."""


class UnauthorizedError(ClientError):
    """Missing, unknown or wrong-kind token (transport rules: HTTP 401)."""

    http_status = 401


class ForbiddenError(ClientError):
    """A platform claims or acts for a role the operator did not grant it."""

    http_status = 403


class NotFoundError(ClientError):
    http_status = 404


class UnknownLocationError(NotFoundError):
    """OCPI 2003: no such Location (or none the caller may see)."""

    ocpi_status = UNKNOWN_LOCATION


class MethodNotAllowedError(ClientError):
    """A method the endpoint does not define (answered with ``Allow`` when ``allowed`` is
    known); also the credentials module's answer to POST when registered, PUT/DELETE when not."""

    http_status = 405

    def __init__(self, message: str, *, allowed: frozenset[str] | None = None) -> None:
        super().__init__(message)
        self.allowed = allowed


class PayloadTooLargeError(ClientError):
    """A request body over ``--max-body-size``: HTTP 413, and the rest is not read."""

    http_status = 413


class TooManyRequestsError(ClientError):
    """Over a rate limit: HTTP 429 with ``Retry-After`` (RFC 9110 §10.2.3) in whole seconds."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConflictError(ClientError):
    """An admin request that contradicts what is stored (a role granted twice, ...)."""

    http_status = 409


# --- the other party's or the hub's trouble (3xxx, 4xxx) ----------------------------------


class ServerError(HubError):
    ocpi_status = SERVER_ERROR
    http_status = 500


class ClientApiUnusableError(ServerError):
    """OCPI 3001: the platform's versions or version details could not be fetched."""

    ocpi_status = UNABLE_TO_USE_CLIENT_API
    http_status = 400
    # Seen from the admin, a platform that fails its handshake is a bad gateway.
    admin_status = 502


class UnsupportedVersionError(ServerError):
    """OCPI 3002: no version in common."""

    ocpi_status = UNSUPPORTED_VERSION
    http_status = 400
    # Seen from the admin, a platform that fails its handshake is a bad gateway.
    admin_status = 502


class NoMatchingEndpointsError(ServerError):
    """OCPI 3003: the platform lacks endpoints the hub needs."""

    ocpi_status = NO_MATCHING_ENDPOINTS
    http_status = 400
    # Seen from the admin, a platform that fails its handshake is a bad gateway.
    admin_status = 502


class RoutingError(HubError):
    ocpi_status = HUB_GENERIC_ERROR
    http_status = 502


class UnknownReceiverError(RoutingError):
    ocpi_status = HUB_UNKNOWN_RECEIVER
    http_status = 404


class ReceiverTimeoutError(RoutingError):
    ocpi_status = HUB_TIMEOUT
    http_status = 504


class ReceiverUnreachableError(RoutingError):
    ocpi_status = HUB_CONNECTION_PROBLEM
    http_status = 502


class ReceiverBrokenError(RoutingError):
    """OCPI 4000: the receiver answered, but not in OCPI."""


class RefusedUrlError(RoutingError):
    """A URL a platform gave the hub that the URL guard refuses (``hub.urlguard``); callers
    answer it as their context demands (3001 at registration, 2001 for a ``response_url``,
    4000 for a receiver's next page or CDR location)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the URL is refused: {reason}")
        self.reason = reason


# --- outside OCPI ------------------------------------------------------------------------


class AnswerTooLargeError(ReceiverBrokenError):
    """The platform's answer is larger than ``--max-response-size``."""


class PermanentRefusalError(HubError):
    """The receiver refused a queued message for good (a 4xx, an OCPI 2xxx): retrying cannot
    help, so the message is parked with this reason."""


class StoreUnavailableError(HubError):
    """Redis cannot be reached: the hub is not ready."""

    http_status = 503


class StartupError(HubError):
    """The hub cannot start (bad setting, no redis-server, port taken, ...)."""


class PlatformError(HubError):
    """A call the hub made to a platform failed (transport, HTTP or OCPI status).

    ``forward`` raises it; registration turns it into 3001 or an admin error.
    """

    http_status = 502


def from_validation(error: InvalidInputError) -> HubError:
    """The hub's error for a body or query that failed ``hub.ocpi.validation``."""
    if error.not_json:
        return NotJsonError(error.message)
    return InvalidParametersError(error.message)
