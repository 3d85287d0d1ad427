"""The naive reference: a tiny ASGI app, one SQLite WAL insert per request, synchronous=NORMAL.

``uvicorn bench.naive:app`` with ``BENCH_NAIVE_DB`` naming the database file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

_db = sqlite3.connect(os.environ.get("BENCH_NAIVE_DB", "naive.sqlite3"), isolation_level=None)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")
_db.execute("CREATE TABLE IF NOT EXISTS alert (id INTEGER PRIMARY KEY, key TEXT, body TEXT)")

_ACCEPTED = json.dumps({"status": "success", "message": "Event processed"}).encode()


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Mapping[str, Any]]],
    send: Callable[[Mapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    event = json.loads(body)
    _db.execute(
        "INSERT INTO alert (key, body) VALUES (?, ?)", (event.get("dedup_key"), body.decode())
    )
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_ACCEPTED)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _ACCEPTED})
