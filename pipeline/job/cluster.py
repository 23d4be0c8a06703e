"""Where the job runs: the cores it will have, and where each step's tasks ran, measured.

Both are independent of how photos are read: sizing is a function of (photos, cores), and
placement is read per task of a named step from the driver's status store (the data behind
the Spark UI, kept even with the UI off), not from any one data source.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from pyspark import Accumulator
from pyspark.sql import SparkSession

from pipeline.job.session import submitted

PHOTOS_PER_TASK = 1000
"""Upper bound of photos per Spark task: enough to amortise a task, small enough for progress."""
EXECUTOR_WAIT_S = 60.0
"""Longest wait for executors to register when the configuration does not say how many will come."""
EXECUTOR_SETTLE_S = 5.0
"""Executors are taken as all there when their number has not grown for this long."""
UNBOUNDED = 2**31 - 1  # Spark's "infinity" for spark.dynamicAllocation.maxExecutors

_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]")


def default_partitions(photos: int, cores: int, per_task: int = PHOTOS_PER_TASK) -> int:
    """A multiple of the cores (full waves), each task at most `per_task` photos, no more tasks than photos.

    Each task costs a scheduling round trip and, on a fresh Python worker, a model build.
    """
    cores = max(1, cores)
    waves = cores * max(1, math.ceil(photos / (cores * per_task)))
    return max(1, min(waves, photos))


def planned_cores(conf: Mapping[str, str]) -> tuple[int, str] | None:
    """The cores the job will have according to its configuration, and which settings say so.

    None when only the cluster can tell (local mode: Spark knows exactly; or no executor count
    configured). On EMR Serverless executors arrive seconds after the driver and, with dynamic
    allocation, only once tasks wait for them: the cores registered at any early instant say little.
    """
    master = conf.get("spark.master", "")
    if match := _LOCAL_CLUSTER.fullmatch(master):
        return int(match[1]) * int(match[2]), master
    if master.startswith("local"):
        return None
    cores = _positive(conf.get("spark.executor.cores"))
    if cores is None:
        return None
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        most = _positive(conf.get("spark.dynamicAllocation.maxExecutors"))
        if most is None or most >= UNBOUNDED:
            return None
        return most * cores, "spark.dynamicAllocation.maxExecutors x spark.executor.cores"
    instances = _positive(conf.get("spark.executor.instances"))
    if instances is None:
        return None
    return instances * cores, "spark.executor.instances x spark.executor.cores"


def _positive(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:  # e.g. "infinity"
        return None
    return number if number is not None and number > 0 else None


@dataclass(frozen=True)
class Executor:
    id: str
    host: str
    cores: int
    active: bool


def executors(spark: SparkSession, active_only: bool = False) -> list[Executor]:
    """Every executor the application has had (the driver included), from its status store."""
    listed = spark.sparkContext._jsc.sc().statusStore().executorList(active_only)
    found = []
    for i in range(listed.size()):
        e = listed.apply(i)
        found.append(Executor(str(e.id()), str(e.hostPort()), int(e.totalCores()), bool(e.isActive())))
    return found


def settled_count(
    count: Callable[[], int],
    timeout_s: float,
    settle_s: float,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """`count()` once it is positive and has not grown for `settle_s`, or whatever it is at `timeout_s`."""
    start = clock()
    last, since = count(), start
    while clock() - start < timeout_s:
        if last > 0 and clock() - since >= settle_s:
            break
        sleep(poll_s)
        now = count()
        if now != last:
            last, since = now, clock()
    return last


def job_cores(spark: SparkSession, timeout_s: float = EXECUTOR_WAIT_S) -> tuple[int, str]:
    """The cores to size work for, and where the figure comes from.

    From the configuration when it says (requested executors x cores, or dynamic allocation's
    maximum), exact in local mode, else the cores of the executors registered after a bounded wait.
    """
    context = spark.sparkContext
    conf = dict(context.getConf().getAll())
    planned = planned_cores(conf)
    if planned is not None:
        return planned
    if context.master.startswith("local"):
        return context.defaultParallelism, context.master

    def executor_cores() -> int:
        return sum(e.cores for e in executors(spark, active_only=True) if e.id != "driver")

    cores = settled_count(executor_cores, timeout_s, EXECUTOR_SETTLE_S)
    if cores > 0:
        return cores, "executors registered after a bounded wait"
    return context.defaultParallelism, f"spark.default.parallelism (no executor after {timeout_s:.0f} s)"


def per_executor(
    tasks: Iterable[tuple[int, str]], per_task: Mapping[int, Sequence[int]] | None = None
) -> dict[str, dict[str, int]]:
    """(task id, executor id) of finished tasks -> tasks per executor, with photos and model builds
    per executor when `per_task` ({task id: (photos, model builds)}) has them."""
    placed: dict[str, dict[str, int]] = {}
    for task, executor in tasks:
        entry = placed.setdefault(
            executor, {"tasks": 0} if per_task is None else {"tasks": 0, "photos": 0, "model_builds": 0}
        )
        entry["tasks"] += 1
        if per_task is not None:
            photos, builds = per_task.get(task, (0, 0))
            entry["photos"] += photos
            entry["model_builds"] += builds
    return dict(sorted(placed.items()))


class Placement:
    """Where the job runs: its master and executors, the cores it sizes work for, and, per named
    step, the tasks (and photos) each executor ran."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._cores: tuple[int, str] | None = None
        self.steps: dict[str, dict[str, Any]] = {}

    @property
    def cores(self) -> int:
        """The cores to size work for (found once, on first use: by then executors had time to come)."""
        if self._cores is None:
            self._cores = job_cores(self._spark)
        return self._cores[0]

    @contextmanager
    def step(self, name: str, per_task: Accumulator | None = None) -> Iterator[None]:
        """Tag the Spark jobs run inside with a job group, then record where their tasks ran.

        `per_task`: an accumulator of {task attempt id: (photos, model builds)} that the step's
        Python workers fill in; the status store maps those tasks to executors.
        """
        context = self._spark.sparkContext
        previous = {key: context.getLocalProperty(key) for key in ("spark.jobGroup.id", "spark.job.description")}
        group = f"{name} [{uuid.uuid4().hex[:8]}]"  # unique: a session may run the same step twice
        context.setJobGroup(group, name)
        try:
            yield
        finally:
            for key, value in previous.items():
                context.setLocalProperty(key, value)
        try:
            self.steps[name] = self._measure(group, per_task.value if per_task is not None else None)
        except Exception as error:  # a private API changed: the run goes on, the report says so
            self.steps[name] = {"error": f"placement not measured: {str(error).splitlines()[0]}"}

    def _measure(self, group: str, per_task: Mapping[int, Sequence[int]] | None) -> dict[str, Any]:
        context = self._spark.sparkContext
        context._jsc.sc().listenerBus().waitUntilEmpty()  # the store has every task end the jobs sent
        store, tracker = context._jsc.sc().statusStore(), context.statusTracker()
        stages: set[tuple[int, int]] = set()
        for job in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job)
            for stage in info.stageIds if info else []:
                stage_info = tracker.getStageInfo(stage)
                stages |= {(stage, a) for a in range(stage_info.currentAttemptId + 1 if stage_info else 1)}
        finished = []
        for stage, attempt in sorted(stages):
            listed = store.taskList(stage, attempt, UNBOUNDED)
            for i in range(listed.size()):
                task = listed.apply(i)
                if task.status() == "SUCCESS":
                    finished.append((int(task.taskId()), str(task.executorId())))
        placed = per_executor(finished, per_task)
        return {"tasks": len(finished), "executors": placed}

    def report(self) -> dict[str, Any]:
        """master, how the job was started, executors and cores, cores sized for, and each step's placement."""
        context = self._spark.sparkContext
        try:
            known = [asdict(e) for e in executors(self._spark)]
        except Exception as error:
            known = [{"error": f"executors not listed: {str(error).splitlines()[0]}"}]
        return {
            "master": context.master,
            "started_by": "spark-submit" if submitted() else "python -m pipeline",
            "deploy_mode": context.getConf().get("spark.submit.deployMode", "client"),
            "sized_for_cores": self._cores[0] if self._cores else None,
            "cores_from": self._cores[1] if self._cores else None,
            "executors": known,
            "steps": self.steps,
        }
