"""The version layer between 2.1.1 platforms and the hub's 2.2.1 core (README: "OCPI 2.1.1
platforms").

The routing core decides on 2.2.1 terms; what a 2.1.1 platform sends is read "up" into 2.2.1
here, and what goes to a 2.1.1 platform is written "down" into 2.1.1, requests and answers
alike. The field maps are ``hub.translate`` (pure); this module picks the map for a call's
shape (module, interface, method, depth) and fills in what one version needs and the other
lacks from what the hub keeps: the locations, tariffs and tokens it holds, and the CdrToken of
a contract id (2.1.1 mod_sessions.md §3.1 ``auth_id``). Nothing is invented: when neither the
call nor the hub has it, the result is ``Withheld``.

Between two platforms of the same version nothing passes through here.
"""

from __future__ import annotations

from hub.bridge.answers import COMMAND_TIMEOUT, Answers, envelope_of
from hub.bridge.requests import Requests
from hub.translate.losses import Withheld

__all__ = ["COMMAND_TIMEOUT", "Bridge", "Withheld", "envelope_of"]


class Bridge(Requests, Answers):
    """Both directions of the version layer over one set of lookups (``hub.bridge.keeps``)."""
