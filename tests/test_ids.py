"""Public ids: short, URL-safe, unguessable."""

from __future__ import annotations

from collections import Counter

from tocsin.ids import _ALPHABET, new_ordered_public_id, new_public_id


def test_public_ids_are_codes_of_the_alphabet_and_do_not_repeat() -> None:
    codes = [new_public_id() for _ in range(5000)]
    assert all(len(c) == 12 and set(c) <= set(_ALPHABET) for c in codes)
    assert len(set(codes)) == len(codes)
    assert len(new_public_id(20)) == 20


def test_every_letter_is_used_about_equally() -> None:
    letters = Counter("".join(new_public_id() for _ in range(4000)))  # 48,000 letters
    assert set(letters) == set(_ALPHABET)
    assert max(letters.values()) < 1.25 * min(letters.values())


def test_ordered_ids_sort_by_time_and_do_not_repeat() -> None:
    from datetime import UTC, datetime

    import time_machine

    with time_machine.travel(datetime(2030, 3, 1, 9, 0, 0, 0, tzinfo=UTC), tick=False):
        earlier = [new_ordered_public_id() for _ in range(2000)]
    with time_machine.travel(datetime(2030, 3, 1, 9, 0, 0, 1000, tzinfo=UTC), tick=False):
        later = new_ordered_public_id()  # one millisecond later
    assert all(len(c) == 16 and set(c) <= set(_ALPHABET) for c in earlier)
    assert len(set(earlier)) == len(earlier)
    assert len({c[:9] for c in earlier}) == 1  # one millisecond: one prefix
    assert max(earlier) < later
