"""Pure translation of OCPI objects between 2.1.1 and 2.2.1, one module per OCPI module.

"Up" is 2.1.1 -> 2.2.1, "down" is 2.2.1 -> 2.1.1. Functions take and return decoded JSON
(``dict``) and do no I/O. Every field a module drops, synthesizes or changes is declared in its
``LOSSES`` table (``hub.translate.losses``), which is published as docs/versions.md.
Nothing here invents data: what the target needs and the source lacks comes from the caller's
parameters, or the object is withheld (``Withheld``).
"""
