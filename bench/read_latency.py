"""Read latency: the feature stage at 0, 20 and 40 ms per read, before and after, local mode and a cluster.

Before: the job's code at `--before` (default: the commit this branch started from), which reads the
photos with Spark's binaryFile source; the wait is a Hadoop FileSystem (bench/java/
LatencyLocalFileSystem.java, compiled here with javac against pyspark's jars, registered as
`fs.file.impl`) that sleeps before opening each photo. After: this tree, which reads the photos in
the Python workers; they are put in moto's S3 server on 127.0.0.1 behind a proxy that holds every
request the wait (bench/s3_stand_in.py), so that boto3's pool, threads and retries are what is
measured. Both also read the local files without any wait: today's time and this tree's, in one run.

Each (code, master) runs in its own process: one warm-up run, then `--repeats` rounds of one run
per read and wait; the table gives each feature stage's median. Local: `python -m pipeline`'s own
session on local[2]; cluster: spark-submit on local-cluster[2,1,3072] as bench/cluster.py does.
Prints the CPU, a table and one JSON line. Run under `flock -x /work/heavy.lock`. Usage:
python bench/read_latency.py [--input DIR] [--weights FILE] [--image-size 224] [--waits 0 20 40] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cluster import cpu_model, last_json, submit_command  # noqa: E402
from bench.inputs import add_input_options  # noqa: E402
from bench.table import report  # noqa: E402

BEFORE = "27d696c"
"""main before the read path landed: binaryFile's read path."""
STEP = "featurize train"
BUCKET = "bench-photos"
LATENCY_CLASS = "bench.LatencyLocalFileSystem"
S3_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "eu-west-3"}


def child(args: argparse.Namespace) -> None:
    """In one session: upload (after), a warm-up run, then every (read, wait) `--repeats` times; JSON out."""
    sys.path.insert(0, args.code)  # this process and its Python workers run the code measured
    if args.side == "before":  # the code at --before: the package was flat then
        from pipeline.progress import Console
        from pipeline.spark import create_session

        from pipeline.job import RunConfig, run
    else:
        from pipeline.job.progress import Console
        from pipeline.job.run import RunConfig, run
        from pipeline.job.session import create_session

    if args.side == "after":  # its local files without a wait, then the stand-in at every wait
        plan = [("files", 0)] + [("s3", wait) for wait in args.waits]
        warmup = ("s3", 0)  # the workers' boto3 imported and their clients made, as in every later run
    else:
        plan = [("files", wait) for wait in args.waits]
        warmup = plan[0]
    with stand_in(args) as proxy:
        spark = create_session()
        runs = []
        for index, (reads, wait) in enumerate([warmup] + plan * args.repeats):
            if proxy is not None:
                proxy.delay_s = wait / 1000 if reads == "s3" else 0.0
                proxy.reset_counts()
            Path(args.wait_file).write_text(str(wait if reads == "files" and args.side == "before" else 0))
            source = f"s3://{BUCKET}/photos" if reads == "s3" else args.input
            config = RunConfig(source, args.output, weights=args.weights, image_size=args.image_size, run_id=str(index))
            done = run(spark, config, Console())
            train = done["sets"]["train"]
            runs.append(
                {
                    "warmup": index == 0,
                    "reads": reads,
                    "wait_ms": wait,
                    "photos": train["featurized"],
                    "featurize_s": done["timings_s"][STEP],
                    "worker_python_s": train["worker_python_s"],
                    "worker_read_wait_s": train.get("worker_read_wait_s"),
                    "gets_at_once": proxy.most_held if proxy is not None and reads == "s3" else None,
                }
            )
    print(json.dumps({"master": spark.sparkContext.master, "runs": runs}))


class stand_in:
    """moto and the delaying proxy, for the after side (on the port the parent chose); None before."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.context = args, None

    def __enter__(self):
        if self.args.side != "after":
            return None
        from bench.s3_stand_in import delayed_s3

        self.context = delayed_s3(port=self.args.port)
        proxy = self.context.__enter__()
        upload(Path(self.args.input))
        return proxy

    def __exit__(self, *exc) -> None:
        if self.context is not None:
            self.context.__exit__(*exc)


def upload(folder: Path) -> None:
    """The photos under `folder` into the stand-in, under `photos/`, 16 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.storage import s3

    client = s3.client(16)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]

    def put(path: Path) -> None:
        client.put_object(Bucket=BUCKET, Key=f"photos/{path.relative_to(folder).as_posix()}", Body=path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))


def before_tree(ref: str, scratch: Path) -> Path:
    """The job's package at `ref`, unpacked into `scratch/before/pipeline`."""
    target = scratch / "before"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "pipeline"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def latency_jar(scratch: Path) -> Path:
    """bench/java/LatencyLocalFileSystem.java compiled against pyspark's Hadoop jars."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    classes = scratch / "classes"
    source = REPO / "bench" / "java" / "LatencyLocalFileSystem.java"
    subprocess.run(["javac", "-cp", f"{jars}/*", "-d", str(classes), str(source)], check=True)
    jar = scratch / "latency-fs.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "bench"], check=True)
    return jar


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def side(args: argparse.Namespace, scratch: Path, name: str, code: Path, jar: Path, cluster: bool) -> list[dict]:
    """One (code, master) in a fresh process: its rows, with the medians of the measured runs."""
    from pipeline.job.session import LOCAL_JVM_OPTIONS

    port, wait_file = free_port(), scratch / f"wait-{name}-{cluster}.ms"
    arguments = ["--child", "--side", name, "--code", str(code), "--input", args.input, "--weights", args.weights]
    arguments += ["--image-size", str(args.image_size), "--repeats", str(args.repeats), "--port", str(port)]
    arguments += ["--waits", *map(str, args.waits), "--wait-file", str(wait_file)]
    arguments += ["--output", str(scratch / f"out-{name}-{'cluster' if cluster else 'local'}")]
    pythonpath = os.pathsep.join([str(code), str(REPO)])
    environment = {
        "PYTHONPATH": pythonpath,
        "LATENCY_MS_FILE": str(wait_file),
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        **S3_ENVIRONMENT,
    }
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, **environment)
    env.pop("AWS_PROFILE", None)
    conf = {
        "spark.driver.memory": "2g",
        "spark.driver.extraJavaOptions": LOCAL_JVM_OPTIONS,
        "spark.ui.enabled": "false",
    }
    if name == "before":
        conf |= {
            "spark.hadoop.fs.file.impl": LATENCY_CLASS,
            "spark.driver.extraClassPath": str(jar),
            "spark.executor.extraClassPath": str(jar),
        }
    if cluster:
        conf |= {"spark.executor.memory": "2g", "spark.executor.extraJavaOptions": LOCAL_JVM_OPTIONS}
        conf |= {f"spark.executorEnv.{key}": value for key, value in environment.items()}
        command = submit_command(conf, __file__, *arguments)
    else:  # `python -m pipeline`'s own session, as bench/cluster.py; the wait's settings through pyspark's launcher
        env["PIPELINE_SPARK_MASTER"] = "local[2]"
        if name == "before":
            env["PYSPARK_SUBMIT_ARGS"] = " ".join(
                [f"--conf {key}={value}" for key, value in conf.items() if "extraJavaOptions" not in key]
                + ["pyspark-shell"]
            )
        command = [sys.executable, __file__, *arguments]
    began = time.perf_counter()
    # From the scratch folder: workers started in this repository would import its `pipeline` first.
    done = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True)
    result = last_json(done, f"{name} {'cluster' if cluster else 'local'}")
    measured = [r for r in result["runs"] if not r["warmup"]]
    rows = []
    for reads, wait in dict.fromkeys((r["reads"], r["wait_ms"]) for r in measured):
        same = [r for r in measured if (r["reads"], r["wait_ms"]) == (reads, wait)]
        seconds = statistics.median(r["featurize_s"] for r in same)
        waited = [r["worker_read_wait_s"] for r in same if r["worker_read_wait_s"] is not None]
        rows.append(
            {
                "code": name,
                "master": result["master"],
                "reads": {"files": "local files", "s3": "S3 stand-in (moto + delay proxy)"}[reads],
                "wait_ms": wait,
                "photos": same[0]["photos"],
                "featurize_s": round(seconds, 2),
                "featurize_s_runs": [r["featurize_s"] for r in same],
                "photos_per_s": round(same[0]["photos"] / seconds, 1),
                "worker_read_wait_s": round(statistics.median(waited), 2) if waited else "",
                "gets_at_once": max((r["gets_at_once"] or 0) for r in same) or "",
            }
        )
    for row in rows:  # against the same read path without a wait
        base = next(r for r in rows if r["reads"] == row["reads"] and r["wait_ms"] == 0)
        row["vs_no_wait"] = round(row["featurize_s"] / base["featurize_s"], 2)
    print(f"{name} {result['master']}: {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return rows


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(options)
    options.add_argument("--image-size", type=int, default=224)
    options.add_argument("--waits", type=int, nargs="+", default=[0, 20, 40], help="ms per read (default 0 20 40)")
    options.add_argument("--repeats", type=int, default=1, help="measured rounds per process, after one warm-up")
    options.add_argument("--before", default=BEFORE, help="git ref of the code to compare with (default %(default)s)")
    options.add_argument("--sides", nargs="+", default=["before", "after"], choices=["before", "after"])
    options.add_argument("--masters", nargs="+", default=["local", "cluster"], choices=["local", "cluster"])
    for hidden in ("--side", "--code", "--output", "--wait-file"):
        options.add_argument(hidden, help=argparse.SUPPRESS)
    options.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        return child(args)
    if 0 not in args.waits:
        args.waits = [0, *args.waits]
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        jar = latency_jar(scratch)
        codes = {"before": before_tree(args.before, scratch), "after": REPO}
        rows = [
            row
            for master in args.masters
            for name in args.sides
            for row in side(args, scratch, name, codes[name], jar, master == "cluster")
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    worst = max(args.waits)
    no_wait = {
        (r["code"], r["master"]): r["featurize_s"] for r in rows if r["reads"] == "local files" and not r["wait_ms"]
    }
    summary = {
        "benchmark": "read_latency",
        "image_size": args.image_size,
        "before": args.before,
        "cpu": cpu_model(),
        f"vs_no_wait_at_{worst}_ms": {
            f"{row['code']} {row['master']}": row["vs_no_wait"] for row in rows if row["wait_ms"] == worst
        },
        "local_files_no_wait_after_vs_before": {
            master: round(no_wait[("after", master)] / no_wait[("before", master)], 2)
            for code, master in no_wait
            if code == "after" and ("before", master) in no_wait
        },
    }
    columns = ["code", "master", "reads", "wait_ms", "photos", "featurize_s", "featurize_s_runs", "vs_no_wait"]
    report(rows, summary, columns + ["photos_per_s", "worker_read_wait_s", "gets_at_once"])


if __name__ == "__main__":
    main()
