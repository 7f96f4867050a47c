"""The journal: every exchange the mock answered, newest last, with no secrets."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exchange", "Journal"]


@dataclass
class Exchange:
    """One request the mock answered, as the journal keeps it (no secrets)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    api_version: str = ""
    model: str = ""
    rpc: str = ""
    request: dict[str, Any] | None = None
    status: int = 0
    framing: str = ""
    scenario: str | None = None
    chunks_sent: int = 0
    outcome: str = "pending"
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Journal:
    """Thread-safe record of the latest exchanges (at most ``limit``), newest last."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._items: deque[Exchange] = deque(maxlen=limit)

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._items)
