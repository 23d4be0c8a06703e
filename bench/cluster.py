"""Distribution's cost: the feature stage on a 2-executor local-cluster (1 core each) against local mode on 2 cores.

Both sides run the same job (`pipeline.job.run.run`) with the same JVM options (-XX:TieredStopAtLevel=1 for the
driver and, on the cluster, the executors), 2 GB of driver memory and the Spark UI off; each in its own process:
one warm-up run (Spark's start, Python workers, model build), then `--runs` measured runs whose feature-stage
photos/s are reported with their median. Local: `python -m pipeline`'s own session (local[2]). Cluster:
spark-submit on `local-cluster[2,1,MB]`, as a submitter would: a master, two workers, an executor JVM each
with its own Python workers. Prints a table and one JSON line. Usage:
python bench/cluster.py [--input DIR] [--weights FILE] [--image-size 224] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import add_input_options  # noqa: E402
from bench.table import report  # noqa: E402

CLUSTER = "local-cluster[2,1,3072]"  # 2 workers of 1 core and 3 GB
STEP = "featurize train"


def child(args: argparse.Namespace) -> None:
    """A warm-up run, then the measured ones, in one session; prints their feature stages as JSON."""
    from pipeline.job.progress import Console
    from pipeline.job.run import RunConfig, run
    from pipeline.job.session import create_session

    spark = create_session()
    runs = []
    for index in range(args.runs + 1):
        config = RunConfig(args.input, args.output, weights=args.weights, image_size=args.image_size, run_id=str(index))
        done = run(spark, config, Console())
        train = done["sets"]["train"]
        runs.append(
            {
                "photos": train["featurized"],
                "featurize_s": done["timings_s"][STEP],
                "worker_python_s": train["worker_python_s"],
                "worker_model_s": train["worker_model_s"],
                "tasks": train["partitions"],
                "executors": done["placement"]["steps"][STEP]["executors"],
            }
        )
    print(json.dumps({"master": spark.sparkContext.master, "warmup": runs[0], "runs": runs[1:]}))


def last_json(done: subprocess.CompletedProcess, what: str) -> dict:
    """The child's JSON line (spark-submit merges the Python driver's stderr into its stdout)."""
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}{done.stdout[-3000:]}")
    return json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))


def side(args: argparse.Namespace, scratch: Path, cluster: bool) -> dict:
    """One side of the comparison, in a fresh process; its runs and the median photos/s."""
    from pipeline.job.session import LOCAL_JVM_OPTIONS

    arguments = ["--child", "--input", args.input, "--weights", args.weights, "--image-size", str(args.image_size)]
    arguments += ["--runs", str(args.runs), "--output", str(scratch / ("cluster" if cluster else "local"))]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)  # the model cache as usual: the warm-up is not measured
    env["PYTHONPATH"] = str(REPO)  # the Python workers import the job wherever they start
    if cluster:
        conf = {
            "spark.driver.memory": "2g",
            "spark.driver.extraJavaOptions": LOCAL_JVM_OPTIONS,
            "spark.executor.extraJavaOptions": LOCAL_JVM_OPTIONS,
            "spark.executor.memory": "2g",
            "spark.ui.enabled": "false",  # as in local mode
            "spark.executorEnv.PYTHONPATH": str(REPO),  # executors run in their own folders
        }
        command = submit_command(conf, __file__, *arguments)
    else:
        env["PIPELINE_SPARK_MASTER"] = "local[2]"
        command = [sys.executable, __file__, *arguments]
    began = time.perf_counter()
    result = last_json(subprocess.run(command, env=env, capture_output=True, text=True), command[0])
    rates = [r["photos"] / r["featurize_s"] for r in result["runs"]]
    return {
        "side": "local-cluster, 2 executors x 1 core" if cluster else "local mode, 2 cores",
        "master": result["master"],
        "photos": result["runs"][0]["photos"],
        "tasks": result["runs"][0]["tasks"],
        "photos_per_s_median": round(statistics.median(rates), 1),
        "photos_per_s_runs": [round(rate, 1) for rate in rates],
        "featurize_s_median": round(statistics.median(r["featurize_s"] for r in result["runs"]), 2),
        "worker_python_s_median": round(statistics.median(r["worker_python_s"] for r in result["runs"]), 2),
        "worker_model_s_median": round(statistics.median(r["worker_model_s"] for r in result["runs"]), 2),
        "warmup_featurize_s": result["warmup"]["featurize_s"],
        "tasks_photos_per_executor": {
            executor: f"{counts['tasks']} / {counts['photos']}"
            for executor, counts in result["runs"][-1]["executors"].items()
        },
        "process_s": round(time.perf_counter() - began, 1),
    }


def cpu_model() -> str:
    """The CPU's model and its AVX-512 flags, printed beside every benchmark: speeds differ a lot between
    machines of the same kind, with and without AVX-512 (bf16 above all)."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")
    flags = next((line for line in lines if line.startswith("Flags")), "")
    return f"{model}; AVX-512: {' '.join(f for f in flags.split() if f.startswith('avx512')) or 'none'}"


def submit_command(conf: dict[str, str], script: str, *arguments: str, master: str = CLUSTER) -> list[str]:
    """spark-submit of `script` with `arguments` on `master`, each of `conf` as a `--conf`: as a submitter
    (EMR Serverless) starts the job."""
    command = [str(Path(sys.executable).parent / "spark-submit"), "--master", master]
    command += [word for key, value in conf.items() for word in ("--conf", f"{key}={value}")]
    return [*command, script, *arguments]


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--image-size", type=int, default=224)
    options.add_argument("--runs", type=int, default=3, help="measured runs per side, after one warm-up")
    options.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--output", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        return child(args)
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        rows = [side(args, Path(scratch), cluster=False), side(args, Path(scratch), cluster=True)]
    local, cluster = rows
    ratio = round(cluster["photos_per_s_median"] / local["photos_per_s_median"], 2)
    columns = [
        "side",
        "photos",
        "tasks",
        "photos_per_s_median",
        "photos_per_s_runs",
        "featurize_s_median",
        "worker_python_s_median",
        "worker_model_s_median",
        "warmup_featurize_s",
        "tasks_photos_per_executor",
    ]
    summary = {"benchmark": "cluster", "image_size": args.image_size, "cluster_vs_local": ratio, "cpu": cpu_model()}
    report(rows, summary, columns)


if __name__ == "__main__":
    main()
