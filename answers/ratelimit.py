"""Answers per user per minute (`ANSWER_RATE_PER_MINUTE`), counted in Redis so every web worker shares it.

A fixed one-minute window per user (a token belongs to one user): INCR, and EXPIRE on the first hit.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlparse

from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> Any:
    import redis

    parsed = urlparse(url)
    if parsed.scheme == "redis+socket":
        db = int(parse_qs(parsed.query).get("virtual_host", ["0"])[0] or 0)
        return redis.Redis(unix_socket_path=parsed.path, db=db)
    return redis.Redis.from_url(url)


def hit(user_id: int) -> tuple[bool, int]:
    """Count one answer; (allowed, seconds until the window resets)."""
    limit = settings.ANSWER_RATE_PER_MINUTE
    if limit <= 0:
        return True, 0
    window = int(time.time() // 60)
    prefix = settings.DATABASES["default"]["NAME"]  # a test run's database keeps its own counters
    key = f"answers:rate:{prefix}:{user_id}:{window}"
    client = _client(settings.REDIS_URL)
    count = int(client.incr(key))
    if count == 1:
        client.expire(key, 120)
    return count <= limit, 60 - int(time.time() % 60)
