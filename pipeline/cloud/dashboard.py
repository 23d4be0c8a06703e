"""`dashboard --runs PATH|s3://...`, and the download of runs from S3 that it and `cloud dashboard` share.

For runs in S3 the results bucket is private (public access blocked), so a page in the
bucket could not be opened without signed URLs: the page is written to a local folder
instead, with each run's report.json, report.html and job_run.json downloaded beside it
(`<out>/<run-id>/...`, about 1 MB a run; files already there are not downloaded again).
The page itself is pipeline/report/dashboard.py's, made from local folders only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from pipeline.cloud.errors import guarded
from pipeline.cloud.stack import aws_options, check_credentials, check_region, client, new_session, split_s3_uri
from pipeline.cloud.transfer import Copy, download_files, download_one, local_path, same_content
from pipeline.report.dashboard import RUN_FILES, Found, collect, find_runs, local_runs, write


def s3_runs(s3, uri: str, out: Path, stream: TextIO | None = None) -> Found:
    """Download each run's report files from s3://bucket/prefix/<run>/ into out/<run>/, then read them.

    Every folder name met is checked to stay inside `out` (`local_path`) before anything is downloaded.
    """
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    files_in: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}

    def listing(parts: tuple[str, ...]) -> tuple[list[str], list[str]]:
        folder_prefix = prefix + "".join(part + "/" for part in parts)
        files: dict[str, dict[str, Any]] = {}
        folders: list[str] = []
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder_prefix, Delimiter="/")
        for page in pages:
            files.update({item["Key"][len(folder_prefix) :]: item for item in page.get("Contents", [])})
            folders += [p["Prefix"][len(folder_prefix) :].removesuffix("/") for p in page.get("CommonPrefixes", [])]
        for name in folders:
            local_path(out, "/".join((*parts, name)))  # refuses runs/../ and the like before anything is written
        files_in[parts] = files
        return list(files), folders

    runs = find_runs(listing)
    copies, markers = [], []
    for parts in runs:
        files, folder = files_in[parts], out.joinpath(*parts)
        if "_SUCCESS" not in files:
            continue
        for name in RUN_FILES:
            item = files.get(name)
            if item and not same_content(folder / name, item["Size"], item["ETag"]):
                copies.append(Copy(folder / name, item["Key"], item["Size"]))
        if not (folder / "_SUCCESS").is_file():
            markers.append(Copy(folder / "_SUCCESS", files["_SUCCESS"]["Key"], 0))
    if copies:
        download_files(s3, bucket, copies, stream)
    for marker in markers:  # last, so that an interrupted download is not taken as a finished run
        download_one(s3, bucket, marker)
    return collect(out, runs, out)


def add_parser(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser(
        "dashboard",
        parents=[aws_options(stack=False)],
        help="one static HTML page of every finished run (local folder or s3://)",
        description="Index every finished run under a folder of runs in one static page (no server, no network).",
    )
    board.add_argument("--runs", required=True, metavar="PATH|s3://...", help="the folder holding the run folders")
    board.add_argument(
        "--out",
        metavar="DIR",
        help="folder for index.html (default: PATH itself; for s3://, ./dashboard with the reports downloaded)",
    )
    board.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.runs.startswith("s3://"):
        return guarded(lambda: _from_s3(args))
    folder = Path(args.runs).expanduser()
    if not folder.is_dir():
        print(f"error: --runs {args.runs} is not a folder", file=sys.stderr)
        return 2
    out = Path(args.out).expanduser() if args.out else folder
    return _written(local_runs(folder, out), args.runs, out)


def _from_s3(args: argparse.Namespace) -> int:
    check_region(args.region)
    session = new_session(args.region, args.profile)
    check_credentials(session)
    out = Path(args.out or "dashboard").expanduser()
    return _written(s3_runs(client(session, "s3"), args.runs, out), args.runs, out)


def _written(found: Found, source: str, out: Path) -> int:
    print(f"dashboard: {write(found, source, out)} ({len(found.rows)} finished run(s))")
    return 0
