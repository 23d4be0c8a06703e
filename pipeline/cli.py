"""Command line: `python -m pipeline run ...`, locally or as the spark-submit entry point."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from pipeline.contract.arguments import comma_list
from pipeline.job.prerequisites import python_command


class DefaultsShown(argparse.HelpFormatter):
    """`--help` ends each option's line with its default, unless the line already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


CLIENT_COMMANDS = ("cloud", "dashboard")
"""Commands that need neither Spark nor the job: they start without importing either."""


def _top() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    top = argparse.ArgumentParser(
        prog=f"{python_command()} -m pipeline", description="Fruit photos to MobileNetV2 features and PCA."
    )
    return top, top.add_subparsers(dest="command", required=True)


def _add_client_commands(commands: argparse._SubParsersAction) -> None:
    from pipeline.cloud import command, dashboard

    command.add_parser(commands)
    dashboard.add_parser(commands)


def client_parser() -> argparse.ArgumentParser:
    top, commands = _top()
    _add_client_commands(commands)
    return top


def parser() -> argparse.ArgumentParser:
    from pipeline.job.run import DEFAULT_IMAGE_SIZE
    from pipeline.model.embedder import ENGINES, IMAGENET, PREPROCESSING_MODES

    top, commands = _top()
    run = commands.add_parser(
        "run", help="featurize photos, fit PCA, write results and a report", formatter_class=DefaultsShown
    )
    run.add_argument(
        "--input", required=True, help="folder of <Label>/<photo>.jpg (local path or s3://); PCA is fitted on it"
    )
    run.add_argument("--output", required=True, help="results go to OUTPUT/RUN_ID/ (local path or s3://)")
    run.add_argument(
        "--apply",
        action="append",
        default=[],
        type=comma_list,
        metavar="PATHS",
        help="more photo folders (comma-separated, repeatable) projected with the PCA fitted on --input",
    )
    run.add_argument(
        "--weights",
        default=IMAGENET,
        help="'imagenet' (Keras downloads it), a Keras .weights.h5 file or a converted .tflite model "
        "(local or s3://, with its JSON sidecar)",
    )
    run.add_argument(
        "--preprocessing",
        choices=PREPROCESSING_MODES,
        help="override the weights' preprocessing (default: tf for imagenet, else the sidecar's)",
    )
    run.add_argument(
        "--engine", choices=ENGINES, default="tflite", help="tflite (default, about 3x faster, same features) or keras"
    )
    run.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="pixels per side fed to the model")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--variance", type=float, default=0.95, help="keep the fewest components explaining this share")
    size.add_argument("--components", type=int, help="keep exactly this many components")
    run.add_argument("--partitions", type=int, help="Spark tasks per set (default: a multiple of the cores)")
    run.add_argument(
        "--reuse",
        metavar="EARLIER_RUN",
        help="folder of a finished run (local, or s3:// on EMR): photos unchanged since it take its features, "
        "unread; only new and changed photos are embedded",
    )
    run.add_argument("--run-id", help="name of the run folder (default: UTC timestamp)")
    _add_verbose(run)

    transform = commands.add_parser(
        "transform", help="project new photos with a finished run, without refitting", formatter_class=DefaultsShown
    )
    transform.add_argument("--run", required=True, help="folder of a finished run (local path or s3://)")
    transform.add_argument(
        "--input",
        required=True,
        action="append",
        type=comma_list,
        metavar="PATHS",
        help="photo folders to project (comma-separated, repeatable)",
    )
    transform.add_argument("--output", help="results go to OUTPUT/RUN_ID/ (default: beside the run)")
    transform.add_argument("--partitions", type=int, help="Spark tasks per set (default: a multiple of the cores)")
    transform.add_argument("--run-id", help="name of the new folder (default: transform-<UTC timestamp>)")
    _add_verbose(transform)

    predict = commands.add_parser(
        "predict", help="top 3 labels of each photo, as JSON lines (no Spark needed)", formatter_class=DefaultsShown
    )
    predict.add_argument("--run", required=True, help="folder of a finished local run")
    predict.add_argument(
        "photos", nargs="+", metavar="PHOTO", help="photo files (.jpg, .jpeg, .png) or folders of them (at any depth)"
    )
    _add_verbose(predict)
    _add_client_commands(commands)
    return top


def _add_verbose(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--verbose",
        action="store_true",
        help="also show Spark's and LiteRT's start-up messages and Spark's warnings (hidden by default)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in CLIENT_COMMANDS:
        args = client_parser().parse_args(argv)
        return args.handler(args)  # pipeline/cloud/command.py, pipeline/cloud/dashboard.py
    args = parser().parse_args(argv)
    from pipeline.model.embedder import QUIET_ENV, WeightsError

    # Set before TensorFlow, the JVM and its Python workers start, which read them from the environment.
    os.environ[QUIET_ENV] = "0" if args.verbose else "1"
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pipeline.contract.errors import InputError
    from pipeline.job.prerequisites import MissingPrerequisite
    from pipeline.job.run import OutputError
    from pipeline.model.decoding import UnreadableImage

    try:
        return {"run": _run, "transform": _transform, "predict": _predict}[args.command](args)
    except (MissingPrerequisite, OutputError, InputError, WeightsError, UnreadableImage, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from pipeline.job.run import RunConfig, check_local_output, run, validate

    options = dict(
        input=args.input,
        output=args.output,
        apply=tuple(p for group in args.apply for p in group),
        weights=args.weights,
        preprocessing=args.preprocessing,
        engine=args.engine,
        image_size=args.image_size,
        variance=args.variance,
        components=args.components,
        partitions=args.partitions,
        reuse=args.reuse,
    )
    config = RunConfig(**options, **({"run_id": args.run_id} if args.run_id else {}))
    validate(config)
    check_local_output(config.output)
    return _summarise(run(_session(args), config, _console()))


def _transform(args: argparse.Namespace) -> int:
    from pipeline.job.run import TransformConfig, check_local_output, transform

    inputs = tuple(p for group in args.input for p in group)
    config = TransformConfig(
        args.run, inputs, args.output, args.partitions, **({"run_id": args.run_id} if args.run_id else {})
    )
    if config.partitions is not None and config.partitions < 1:
        raise ValueError(f"--partitions must be at least 1, got {config.partitions}")
    if config.output:
        check_local_output(config.output)
    return _summarise(transform(_session(args), config, _console()))


def _predict(args: argparse.Namespace) -> int:
    from pipeline.model.predict import list_photos, predict

    photos = list_photos(args.photos)
    failed = 0
    for answer in predict(args.run, photos.found):
        failed += "error" in answer
        print(json.dumps(answer), flush=True)
    if photos.ignored:
        path, reason = photos.ignored[0]
        print(f"ignored {len(photos.ignored)} file(s) that are not photos, e.g. {path}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _session(args: argparse.Namespace):
    from pipeline.job.session import create_session

    return create_session(verbose=args.verbose)


def _console():
    from pipeline.job.progress import Console

    return Console()


def _summarise(report: dict) -> int:
    if report["skipped"] or report["ignored"]:
        print(
            f"skipped {len(report['skipped'])} photo(s), ignored {len(report['ignored'])} other file(s): "
            "each named with its reason in report.json",
            file=sys.stderr,
        )
    print(f"results: {report['run_dir']}\nreport:  {report['run_dir']}/report.html")
    return 0
