"""OCPI 2.3.0 objects (tag ``v2.3.0`` of the specification), where they differ from 2.2.1.

Objects 2.3.0 did not change are the 2.2.1 ones in ``hub.ocpi`` (re-exported here where a
module needs them). The house rules of ``hub.ocpi.common`` hold, and 2.3.0 makes two of them
the letter of the spec: a receiver "SHALL NOT reject" a payload for fields it does not know
(2.3.0 §4.1.8), and OpenEnum fields may carry values the spec does not list (2.3.0 §17.3).
Required fields and types stay strict. Sections are the 2.3.0 PDF's, e.g. ``2.3.0 §8.3.1``.
"""
