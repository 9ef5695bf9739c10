"""New request and correlation ids (hub/ocpi/headers.py ``new_id``)."""

from __future__ import annotations

import re
import uuid

from hub.ocpi.headers import new_id

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_a_new_id_is_a_random_uuid4_as_python_writes_it() -> None:
    made = [new_id() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made:
        assert UUID4.fullmatch(text)
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    # Every random bit varies: 122 of the 128 are random.
    ored = anded = int(made[0].replace("-", ""), 16)
    for text in made[1:]:
        value = int(text.replace("-", ""), 16)
        ored, anded = ored | value, anded & value
    assert bin(ored ^ anded).count("1") == 122
