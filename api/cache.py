"""The cache (throttle counters) on Redis. When Redis is down or restarting it reads as an empty
cache and forgets writes: rate limits lapse for a moment, but uploads and log-ins go on, and the
database (the truth about everything that matters) is untouched."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _forgive(operation: str, call: Callable[[], T], fallback: T) -> T:
    try:
        return call()
    except RedisError as error:
        log.warning("cache %s skipped, Redis is unavailable: %s", operation, error)
        return fallback


class ForgivingRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return _forgive("get", lambda: super(ForgivingRedisCache, self).get(key, default, version), default)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return _forgive("get_many", lambda: super(ForgivingRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return _forgive("has_key", lambda: super(ForgivingRedisCache, self).has_key(key, version), False)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        _forgive("set", lambda: super(ForgivingRedisCache, self).set(key, value, timeout, version), None)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        unsaved = list(data)
        return _forgive(
            "set_many", lambda: super(ForgivingRedisCache, self).set_many(data, timeout, version), unsaved
        )

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return _forgive(
            "add", lambda: super(ForgivingRedisCache, self).add(key, value, timeout, version), False
        )

    def delete(self, key: Any, version: int | None = None) -> bool:
        return _forgive("delete", lambda: super(ForgivingRedisCache, self).delete(key, version), False)
