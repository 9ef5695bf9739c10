"""Pure translation of OCPI objects between 2.3.0 and 2.2.1, one module per OCPI module.

"Down" is 2.3.0 -> 2.2.1, "up" is 2.2.1 -> 2.3.0 (toward the newer version, as in
``hub.translate``). 2.3.0 <-> 2.1.1 is the composition with ``hub.translate``: down to 2.2.1
here, then down to 2.1.1 there, and the reverse going up. Functions take and return decoded
JSON (``dict``), do no I/O, and declare every field they drop, synthesize, change or withhold
in their module's ``LOSSES`` (``pair="2.3.0"``), published in docs/versions.md.

Unknown and extension fields. 2.3.0 receivers accept fields they do not know (2.3.0 §4.1.8),
2.2.1 ones need not. Every function here passes its input through the Structs of the source
version (``clean``), so nothing the spec does not define crosses in either direction, and
OpenEnum values 2.2.1 does not list never go down (2.2.1 enums are closed). These functions run
only across a version boundary: between two 2.3.0 platforms the hub forwards bodies without
calling them, and whether a pair may keep its extensions there is the forwarding layer's
decision, not a parameter here.
"""
