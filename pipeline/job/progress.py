"""Console progress: one line per stage, photo counts while photos are being embedded."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from pyspark import Accumulator


class Console:
    """Prints stage starts, progress and durations; keeps the durations for the report."""

    def __init__(self, stream: TextIO | None = None, poll_seconds: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr  # today's stderr, not the one at import
        self.poll_seconds = poll_seconds
        self.timings: dict[str, float] = {}

    def say(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str, total: int | None = None, done: Accumulator | None = None) -> Iterator[None]:
        self.say(f"[{name}] started" + (f": {total} photos" if total is not None else ""))
        start = time.monotonic()
        finished = threading.Event()
        watcher = None
        if total is not None and done is not None:
            watcher = threading.Thread(target=self._watch, args=(name, total, done, start, finished), daemon=True)
            watcher.start()
        outcome = "failed after"  # unless the stage's code returns
        try:
            yield
            outcome = "done in"
        finally:
            finished.set()
            if watcher is not None:
                watcher.join()
            elapsed = time.monotonic() - start
            self.timings[name] = round(elapsed, 3)
            self.say(f"[{name}] {outcome} {elapsed:.1f} s")

    def _watch(self, name: str, total: int, done: Accumulator, start: float, finished: threading.Event) -> None:
        shown = 0
        while not finished.wait(self.poll_seconds):
            count = min(int(done.value), total)
            if count != shown:
                shown = count
                rate = count / max(time.monotonic() - start, 1e-9)
                self.say(f"[{name}] {count}/{total} photos ({100 * count // total}%), {rate:.0f} photos/s")
