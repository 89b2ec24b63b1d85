"""Placement of synchronous node runs: in the lane's thread, or on the event loop.

A thread hop cost about 0.1 ms of CPU on an idle 2-core VM with
``anyio.to_thread.run_sync``. The CPU lane's own threads (``WorkerThreads``)
cost less, but each hop still wakes a thread and then the loop, and takes
longer while the loop and the writer thread compete for the cores. That is
more than many image operations cost on small images, so a node whose runs
with the same inputs' shapes and settings finished under a threshold runs
on the event loop instead.

The key is the node class plus the shape and dtype of each tensor input and
the value of each other input (a blur radius changes the cost as much as
the image size). A key goes inline after ``WARMUP_RUNS`` runs in a thread
that each stayed under the threshold. Slower thread runs do not count: a
thread's timing includes waits for the GIL, so only fast runs are evidence.
An inline run that takes more than ``DEMOTE_FACTOR`` times the threshold
sends its key back to threads, for good after ``MAX_DEMOTIONS`` times.
Keys live in a bounded LRU map.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

WARMUP_RUNS = 2
DEMOTE_FACTOR = 4
MAX_DEMOTIONS = 3
MAX_KEYS = 4096


class _KeyStats:
    __slots__ = ("demotions", "fast_runs")

    def __init__(self) -> None:
        self.fast_runs = 0
        self.demotions = 0


class InlinePlacement:
    """Fast runs per input signature; decides whether a run goes inline or to a thread."""

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self._keys: OrderedDict[int, _KeyStats] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.threshold_s > 0

    def key(self, class_type: str, calls: list[dict[str, Any]],
            ignore: frozenset[str] = frozenset()) -> int | None:
        """Return the signature of one node run, or None where it cannot be computed.

        ``ignore`` names inputs left out: hidden ones (the whole prompt) and
        those that the node declares cost-neutral.
        """
        try:
            return hash((class_type, tuple(
                tuple((name, _signature(value)) for name, value in sorted(kwargs.items())
                      if name not in ignore)
                for kwargs in calls)))
        except TypeError:
            return None  # an unhashable or unsortable input: keep the thread

    def runs_inline(self, key: int | None) -> bool:
        if key is None:
            return False
        stats = self._keys.get(key)
        if stats is None:
            return False
        self._keys.move_to_end(key)
        return stats.fast_runs >= WARMUP_RUNS and stats.demotions < MAX_DEMOTIONS

    def record_thread_run(self, key: int | None, seconds: float) -> None:
        if key is None or seconds >= self.threshold_s:
            return
        stats = self._keys.get(key)
        if stats is None:
            stats = self._keys[key] = _KeyStats()
            while len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)
        stats.fast_runs += 1

    def record_inline_run(self, key: int | None, seconds: float) -> None:
        if key is None or seconds <= DEMOTE_FACTOR * self.threshold_s:
            return
        stats = self._keys.get(key)
        if stats is not None:
            stats.fast_runs = 0
            stats.demotions += 1


def _signature(value: Any) -> Any:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return ("tensor", tuple(shape), str(getattr(value, "dtype", "")))
    if isinstance(value, dict):
        return ("dict", tuple((key, _signature(item)) for key, item in sorted(value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_signature(item) for item in value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    # Other objects (a loaded model, a provider handle): their identity.
    return ("object", type(value).__qualname__, id(value))
