"""An event loop in a thread of its own, for the servers that also run outside ``async``.

``MockVertexServer`` and ``ProxyServer`` both start their aiohttp runner in a daemon thread,
report a start-up failure to the caller, and on stop clean the runner up and cancel what it
left running, as ``asyncio.run`` does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

__all__ = ["LoopThread"]

_TIMEOUT = 10.0


class LoopThread:
    """Runs ``start()`` in a new loop on a daemon thread, then the loop until :meth:`stop`,
    which runs ``stop()`` and cancels the tasks left over before closing the loop."""

    def __init__(
        self,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
        *,
        name: str,
    ) -> None:
        self._start, self._stop, self._name = start, stop, name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start; the start-up's own exception is raised here, in the caller's thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # report start-up failures to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._stop())
                _cancel_leftovers(loop)
                loop.close()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(_TIMEOUT):
            raise RuntimeError(f"{self._name} did not start in time")
        if failure:
            self._thread = None
            raise failure[0]

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._thread = None
        self._loop = None


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the runner's cleanup left running, as ``asyncio.run`` does: aiohttp keeps
    reading the unread body of a client that hung up for up to 10 s (its lingering time), and
    closing the loop under such a task prints "Task was destroyed but it is pending!"."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
