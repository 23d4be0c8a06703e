"""Every file under an input folder, local or `s3://`, each put in one bucket: a photo to read, skipped, or ignored.

Listed in bulk on the driver, without Spark: a local folder is walked with `os.scandir` (one `stat`
per file, links followed), an S3 prefix with ListObjectsV2 pages, one prefix per label in parallel.
Nothing is filtered by a hidden-file rule of the listing itself (Hadoop's drops every name starting
with `_` or `.`, cameras' `_DSC0001.JPG` included): each file found is judged here, by name first
(`photo_names.ignore_reason`: ignored), then by what it is (a dangling link, a loop, a FIFO...: skipped),
then by where it is: its label is the first folder below the input, whatever the depth below it, and
a photo directly in the input folder has none (skipped). An empty file needs no read (skipped).
"""

from __future__ import annotations

import errno
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline.storage import s3
from pipeline.storage.photo_names import EMPTY_FILE, ignore_reason

NO_LABEL = "not in a label folder: photos go in <input>/<Label>/..., the label is that folder's name"
FOLDER_MARKER = "folder marker (an S3 key ending in /)"
LIST_CONCURRENCY = 16
"""ListObjectsV2 calls in flight: label folders are listed in parallel."""


@dataclass
class Listing:
    """Every file found under one input folder, each in exactly one of: photos, skipped, ignored."""

    uri: str
    paths: list[str] = field(default_factory=list)
    """Photos to read, by path (`file:/...` or `s3://...`), sorted; with their `sizes`, `versions` and `labels`."""
    sizes: list[int] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    """What tells a rewritten photo from the one listed before, from the listing alone (no read, no request):
    the modification time in nanoseconds locally, the ETag on S3 (an opaque tag, not always an MD5)."""
    labels: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason): photos that cannot be read, found so while listing."""
    ignored: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason): files that are not photos, on purpose."""

    @property
    def files(self) -> int:
        return len(self.paths) + len(self.skipped) + len(self.ignored)

    @property
    def unlabelled(self) -> int:
        return sum(reason == NO_LABEL for _, reason in self.skipped)

    def add(self, relative: str, size: int, version: str) -> None:
        """A regular file at `relative` (below the input folder) of `size` bytes, in its bucket."""
        reason = ignore_reason(relative)
        if reason is not None:
            self.ignore(relative, reason)
        else:
            self.add_photo(relative, size, version)

    def add_photo(self, relative: str, size: int, version: str) -> None:
        """A file whose name makes it a photo (`ignore_reason` is None): to read, or skipped if it cannot be."""
        path = self._path(relative)
        label = label_of(relative)
        if label is None:
            self.skipped.append((path, NO_LABEL))
        elif size == 0:
            self.skipped.append((path, EMPTY_FILE))
        else:
            self.paths.append(path)
            self.sizes.append(size)
            self.versions.append(version)
            self.labels.append(label)

    def skip(self, relative: str, reason: str) -> None:
        self.skipped.append((self._path(relative), reason))

    def ignore(self, relative: str, reason: str) -> None:
        self.ignored.append((self._path(relative), reason))

    def _path(self, relative: str) -> str:
        return self.uri.rstrip("/") + "/" + relative

    def restricted_to(self, paths: set[str]) -> Listing:
        """The photos of this listing whose path is in `paths`, in the same order (nothing skipped or ignored)."""
        keep = [i for i, path in enumerate(self.paths) if path in paths]
        return Listing(
            self.uri,
            [self.paths[i] for i in keep],
            [self.sizes[i] for i in keep],
            [self.versions[i] for i in keep],
            [self.labels[i] for i in keep],
        )

    def sorted(self) -> Listing:
        order = sorted(range(len(self.paths)), key=self.paths.__getitem__)
        self.paths = [self.paths[i] for i in order]
        self.sizes = [self.sizes[i] for i in order]
        self.versions = [self.versions[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        self.skipped.sort()
        self.ignored.sort()
        return self


def label_of(relative: str) -> str | None:
    """The label of the photo at `relative` below the input folder: the first folder, or None."""
    label, slash, _ = relative.partition("/")
    return label if slash and label else None


def list_local(folder: str) -> Listing:
    """Every file under the local `folder`; photos named `file:/<absolute path>`, as Spark names them."""
    root = os.path.abspath(folder)
    listing = Listing("file:" + root.rstrip("/"))
    stack = [("", root, frozenset({_identity(os.stat(root))}))]
    while stack:
        relative, directory, above = stack.pop()
        try:
            with os.scandir(directory) as entries:
                found = list(entries)
        except OSError as error:
            listing.skip(relative, f"unreadable folder: {error.strerror}")
            continue
        for entry in found:
            name = relative + entry.name
            if _is_folder(entry):
                try:
                    identity = _identity(entry.stat())
                except OSError as error:
                    listing.skip(name + "/", f"unreadable folder: {error.strerror}")
                    continue
                if identity in above:  # a link to a folder that contains it
                    listing.skip(name + "/", "link loop: links to a folder above it, not followed")
                else:
                    stack.append((name + "/", entry.path, above | {identity}))
                continue
            _add_file(listing, name, entry)
    return listing.sorted()


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links: a link to a folder is walked like the folder
    except OSError:
        return False


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _add_file(listing: Listing, name: str, entry: os.DirEntry) -> None:
    reason = ignore_reason(name)
    if reason is not None:
        listing.ignore(name, reason)
        return
    try:
        info = entry.stat()  # of the link's target for a link: a photo linked is read under its own path
    except FileNotFoundError:
        listing.skip(name, f"dangling link (to {_target(entry.path)}, which does not exist)")
        return
    except OSError as error:
        reason = "link loop" if error.errno == errno.ELOOP else "unreadable"
        listing.skip(name, f"{reason}: {error.strerror}")
        return
    if not stat.S_ISREG(info.st_mode):
        listing.skip(name, "not a regular file (a device, socket or named pipe)")
        return
    listing.add_photo(name, info.st_size, f"mtime_ns:{info.st_mtime_ns}")  # judged by name above, before the stat


def _target(link: str) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def list_s3(uri: str) -> Listing:
    """Every object under the `s3://` prefix `uri`: the objects directly under it, then each folder
    below it (the labels) listed in parallel, a page of 1,000 keys per request."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = s3.split(uri)
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    scheme = uri.partition("://")[0]
    listing = Listing(f"{scheme}://{bucket}/{prefix}".rstrip("/"))
    client = s3.client(LIST_CONCURRENCY)

    def objects(under: str, delimiter: str = "") -> tuple[list[tuple[str, int, str]], list[str]]:
        found, folders = [], []
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=under, Delimiter=delimiter)
        for page in pages:
            found += [(item["Key"], item["Size"], f"etag:{item.get('ETag', '')}") for item in page.get("Contents", ())]
            folders += [item["Prefix"] for item in page.get("CommonPrefixes", ())]
        return found, folders

    try:
        top, folders = objects(prefix, "/")
        with ThreadPoolExecutor(LIST_CONCURRENCY) as pool:
            below = list(pool.map(lambda folder: objects(folder)[0], folders))
    except (BotoCoreError, ClientError) as error:  # say which input, in one line
        raise OSError(f"cannot list {uri}: {error}") from None
    for found in (top, *below):
        for key, size, version in found:
            relative = key[len(prefix) :]
            if key.endswith("/"):
                listing.ignore(relative, FOLDER_MARKER)
            else:
                listing.add(relative, size, version)
    return listing.sorted()
