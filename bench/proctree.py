"""Peak memory of a whole process tree (JVM, Python driver and workers), from /proc.

`/usr/bin/time` reports one process; Spark's memory is spread over the JVM and the
Python workers it forks, so this sums the resident set of the process and all of
its descendants, sampled every `interval` seconds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
                tree.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return tree


def tree_rss_bytes(root: int) -> int:
    tree, total, stack = _children(), 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as file:
                total += int(file.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
        stack += tree.get(pid, [])
    return total


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(command: list[str], env: dict[str, str] | None = None, interval: float = 0.25) -> Measured:
    """Run `command`, returning its wall time and the peak RSS of its whole process tree."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return Measured(seconds, peak, process.returncode, stdout, stderr)
