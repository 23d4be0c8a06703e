"""Memory with phone photos: the peak of each Python worker and of each executor over a whole run.

`--distinct` 12-megapixel JPEGs (4000 x 3000, about 8 MB each, as phones write them) are generated
and hard-linked into `--photos` photos over two labels (one file's disk space per distinct photo; the
job reads every link). The job then runs on them at 224 px, and every process of the run is sampled
from /proc every 0.1 s: the peak of each Python worker (the processes forked by `pyspark.daemon`), and
of each executor: its JVM with all its Python processes (local mode: the driver's JVM, which runs the
tasks). Sides: this tree on local[2] and on local-cluster[2,1,3072] (spark-submit, two executors of
one core); and the code at `--before` on local[2] (binaryFile: 256 photos' bytes in each Arrow batch).
The EMR Serverless executor the stack asks for (infra/config.py) is printed beside: its Python workers
(one per core) live in `spark.executor.memoryOverhead`. Prints the CPU, a table and one JSON line.
Usage: python bench/memory.py [--photos 600] [--distinct 4] [--sides before after-local after-cluster]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cluster import CLUSTER, cpu_model, submit_command  # noqa: E402
from bench.inputs import add_input_options  # noqa: E402
from bench.proctree import Process, run_measured  # noqa: E402
from bench.read_latency import BEFORE, before_tree  # noqa: E402
from bench.table import report  # noqa: E402

GB = 1e9


def twelve_megapixel_jpeg(seed: int = 0) -> bytes:
    """A 4000 x 3000 JPEG of the size phones write (about 8 MB: a gradient under coarse noise)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 150, 4000, dtype=np.float32)[None, :, None] + np.linspace(0, 50, 3000)[:, None, None]
    pixels = (gradient + rng.integers(0, 100, (3000, 4000, 3), dtype=np.uint8)).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def generate(folder: Path, photos: int, distinct: int) -> int:
    """`photos` photos in two label folders, hard links to `distinct` generated ones; their total bytes."""
    sources = []
    for seed in range(distinct):
        sources.append(folder / f"source-{seed}.jpg")
        sources[-1].write_bytes(twelve_megapixel_jpeg(seed))
    total = 0
    for index in range(photos):
        label = folder / "photos" / f"label {index % 2}"
        label.mkdir(parents=True, exist_ok=True)
        source = sources[index % distinct]
        os.link(source, label / f"IMG_{index:05}.jpg")
        total += source.stat().st_size
    return total


class Peaks:
    """The peak of every Python worker and of every executor (its JVM and its Python processes) seen."""

    def __init__(self) -> None:
        self.workers: dict[int, int] = {}
        self.executors: dict[int, int] = {}

    def observe(self, found: list[Process]) -> None:
        children: dict[int, list[Process]] = {}
        for process in found:
            children.setdefault(process.parent, []).append(process)
            if "pyspark.daemon" in process.command:
                self.workers[process.pid] = max(self.workers.get(process.pid, 0), process.rss)
        for process in found:
            if process.command and os.path.basename(process.command[0]) == "java" and _runs_tasks(process, found):
                total = process.rss + sum(p.rss for p in _descendants(process.pid, children))
                self.executors[process.pid] = max(self.executors.get(process.pid, 0), total)


def _runs_tasks(jvm: Process, found: list[Process]) -> bool:
    """An executor's JVM, or in local mode the JVM whose children are Python workers."""
    if any("CoarseGrainedExecutorBackend" in part for part in jvm.command):
        return True
    return not any("CoarseGrainedExecutorBackend" in part for p in found for part in p.command)


def _descendants(pid: int, children: dict[int, list[Process]]) -> list[Process]:
    found, stack = [], list(children.get(pid, []))
    while stack:
        process = stack.pop()
        found.append(process)
        stack += children.get(process.pid, [])
    return found


def side(args: argparse.Namespace, name: str, scratch: Path, photos: Path, photo_bytes: int) -> dict:
    code = before_tree(args.before, scratch) if name == "before" else REPO
    output = scratch / f"out-{name}"
    job = ["run", "--input", str(photos), "--output", str(output), "--weights", args.weights, "--run-id", "memory"]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYTHONPATH=str(code))
    if name == "after-cluster":
        conf = {"spark.executor.memory": "2g", "spark.driver.memory": "2g", "spark.ui.enabled": "false"}
        conf["spark.executorEnv.PYTHONPATH"] = str(code)
        command = submit_command(conf, str(code / "pipeline" / "__main__.py"), *job)
    else:
        env["PIPELINE_SPARK_MASTER"] = "local[2]"
        command = [sys.executable, "-m", "pipeline", *job]
    peaks = Peaks()
    began = time.perf_counter()
    measured = run_measured(
        command, env=env, interval=0.1, cwd=str(scratch), observe=peaks.observe, timeout_s=args.timeout
    )
    row = {
        "side": f"{name.split('-')[0]} ({'binaryFile' if name == 'before' else 'read ahead'})",
        "master": CLUSTER if name == "after-cluster" else "local[2]",
        "photos": args.photos,
        "photo_mb": round(photo_bytes / args.photos / 1e6, 1),
        "finished": measured.returncode == 0,
        "run_s": round(time.perf_counter() - began, 1),
        "python_workers": len(peaks.workers),
        "peak_per_python_worker_gb": round(max(peaks.workers.values(), default=0) / GB, 2),
        "peak_per_executor_gb": round(max(peaks.executors.values(), default=0) / GB, 2),
        "peak_tree_gb": round(measured.peak_rss_bytes / GB, 2),
    }
    errors = [line for line in measured.stderr.splitlines() if "ERROR" in line or line.startswith("error:")]
    row["error"] = (errors or measured.stderr.strip().splitlines() or ["?"])[0][:160] if measured.returncode else ""
    if measured.timed_out:
        row["error"] = f"still running after {args.timeout:.0f} s, killed; first error: {row['error']}"
    return row


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(options)
    options.add_argument("--photos", type=int, default=600, help="photos (default %(default)s: 300 a task on 2 cores)")
    options.add_argument("--distinct", type=int, default=4, help="distinct 12 MP photos generated")
    options.add_argument("--before", default=BEFORE, help="git ref of the code to compare with (default %(default)s)")
    options.add_argument("--timeout", type=float, default=300, help="a side still running after it is killed (s)")
    sides = ["before", "after-local", "after-cluster"]
    options.add_argument("--sides", nargs="+", default=sides, choices=sides)
    args = options.parse_args()
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        photo_bytes = generate(scratch, args.photos, args.distinct)
        rows = [side(args, name, scratch, scratch / "photos", photo_bytes) for name in args.sides]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    from infra.config import AppConfig  # the CDK app's defaults (it starts jsii's Node): after the runs

    emr = AppConfig()
    summary = {
        "benchmark": "memory",
        "cpu": cpu_model(),
        "emr_executor": {
            "cores": emr.executor_cores,
            "memory_gb": emr.executor_memory_gb,
            "memory_overhead_gb": emr.executor_memory_overhead_gb,
            "python_workers": emr.executor_cores,
        },
    }
    after = [row for row in rows if row["side"].startswith("after") and row["finished"]]
    if after:
        worker = max(row["peak_per_python_worker_gb"] for row in after)
        summary["emr_python_workers_gb"] = round(worker * emr.executor_cores, 2)
    report(rows, summary)


if __name__ == "__main__":
    main()
