"""`cloud upload DIR`: a local photo folder into the input bucket, what is already there skipped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline.cloud.errors import bad_parameters
from pipeline.cloud.stack import Stack, s3_uri
from pipeline.cloud.transfer import Copy, listing, same_content, upload_files
from pipeline.storage.photo_names import is_photo


@dataclass(frozen=True)
class Uploaded:
    location: str
    sent: int
    sent_bytes: int
    skipped: int
    ignored: int
    unlabelled: int


def folder_prefix(prefix: str) -> str:
    """'train' -> 'train/': a folder under the bucket, never the bucket's root."""
    cleaned = prefix.strip().strip("/")
    if not cleaned:
        raise bad_parameters("--prefix must name a folder in the input bucket, e.g. train/")
    return cleaned + "/"


def scan(folder: Path) -> tuple[list[Path], int]:
    """The photos under `folder` (the job's own rule: .jpg/.jpeg/.png, any case) and the count of other files."""
    photos, ignored = [], 0
    for root, directories, files in os.walk(folder):
        directories.sort()
        for name in sorted(files):
            if is_photo(name):
                photos.append(Path(root) / name)
            else:
                ignored += 1
    return photos, ignored


def upload(stack: Stack, folder: str, prefix: str, stream: TextIO | None = None) -> Uploaded:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise bad_parameters(f"{folder} is not a folder")
    prefix = folder_prefix(prefix)
    photos, ignored = scan(root)
    if not photos:
        raise bad_parameters(
            f"no photos (.jpg, .jpeg, .png) under {folder}: expected <Label>/<photo>.jpg files, nothing uploaded"
        )
    s3 = stack.client("s3")
    remote = listing(s3, stack.input_bucket, prefix)
    copies, skipped = [], 0
    for photo in photos:
        key = prefix + photo.relative_to(root).as_posix()
        if key in remote and same_content(photo, *remote[key]):
            skipped += 1
        else:
            copies.append(Copy(photo, key, photo.stat().st_size))
    if copies:
        upload_files(s3, stack.input_bucket, copies, stream)
    return Uploaded(
        location=s3_uri(stack.input_bucket, prefix),
        sent=len(copies),
        sent_bytes=sum(c.size for c in copies),
        skipped=skipped,
        ignored=ignored,
        unlabelled=sum(1 for p in photos if p.parent == root),
    )
