"""OCPI 2.1.1 objects (tag ``2.1.1-d2`` of the specification).

The same house rules as the 2.2.1 objects in ``hub.ocpi`` (see ``hub.ocpi.common``): unknown
fields are ignored, enum-typed fields are plain ``str`` with the known values in ``frozenset``
constants, DateTimes are kept as received, required fields have no default. Sections are cited
as the 2.1.1 Markdown files number them, e.g. ``2.1.1 mod_locations.md §3.1``.
"""
