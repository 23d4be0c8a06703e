"""Peak memory of a whole process tree (JVM, Python driver and workers), from /proc.

`/usr/bin/time` reports one process; Spark's memory is spread over the JVM and the
Python workers it forks, so this sums the resident set of the process and all of
its descendants, sampled every `interval` seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
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


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    rss: int  # resident bytes
    command: list[str]


def processes(root: int) -> list[Process]:
    """`root` and every descendant, parents before their children, with resident bytes and command line."""
    tree, stack, found = _children(), [(root, 0)], []
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid, parent = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as file:
                rss = int(file.read().split()[1]) * page
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                command = [part.decode(errors="replace") for part in file.read().split(b"\0") if part]
        except (OSError, IndexError, ValueError):
            continue
        found.append(Process(pid, parent, rss, command))
        stack += [(child, pid) for child in tree.get(pid, [])]
    return found


def rss_by_kind(found: list[Process]) -> dict[str, int]:
    """Resident bytes of the root of `found` ("driver"), its JVMs ("jvm") and every other descendant ("workers")."""
    totals = {"driver": 0, "jvm": 0, "workers": 0}
    for index, process in enumerate(found):
        program = os.path.basename(process.command[0]) if process.command else ""
        kind = "driver" if index == 0 else "jvm" if program == "java" else "workers"
        totals[kind] += process.rss
    return totals


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    peak_parts: dict[str, int]  # what each kind of process held at the peak
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def run_measured(
    command: list[str],
    env: dict[str, str] | None = None,
    interval: float = 0.25,
    cwd: str | None = None,
    observe: Callable[[list[Process]], None] | None = None,
    timeout_s: float | None = None,
) -> Measured:
    """Run `command`, returning its wall time and the peak RSS of its whole process tree;
    `observe` sees every sample's processes (e.g. to find the peak of each one). A run still going
    after `timeout_s` is killed with its whole tree (returncode -9, `timed_out`): a hung Spark
    job is a result, not a reason to wait for ever."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, parts = 0, {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, parts
        while not done.is_set():
            found = processes(process.pid)  # one read of /proc a sample, for both uses
            if observe is not None:
                observe(found)
            now = rss_by_kind(found)
            if sum(now.values()) > peak:
                peak, parts = sum(now.values()), now
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        for found in reversed(processes(process.pid)):  # children first: the JVM's workers, the JVM, the job
            try:
                os.kill(found.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stdout, stderr = process.communicate()
        timed_out = True
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return Measured(seconds, peak, parts, process.returncode, stdout, stderr, timed_out)


def peak_columns(measured: Measured, prefix: str = "") -> dict[str, float]:
    """The peak in GB, whole tree and per kind of process, as table columns."""
    columns = {f"{prefix}peak_rss_gb": round(measured.peak_rss_bytes / 1e9, 2)}
    for kind, size in measured.peak_parts.items():
        columns[f"{prefix}peak_{kind}_gb"] = round(size / 1e9, 2)
    return columns
