"""Which files are photos, judged by name (and an empty file by its size), before any byte is read.

The same rules for the job's listing, `cloud upload` and `cloud smoke`, local or S3; decoding
(pipeline/model/decoding.py) only sees the files these rules let through.
"""

from __future__ import annotations

import re

EMPTY_FILE = "empty file (0 bytes)"

_PHOTO_RE = re.compile(r"(?i)\.(jpe?g|png)$")
"""The extensions of photos the job reads, in any case."""

SYSTEM_FILES = frozenset({".DS_Store", "Thumbs.db", "ehthumbs.db", "desktop.ini", "Desktop.ini", "Icon\r"})
"""Files that operating systems leave in folders (Finder's view settings, Windows' thumbnail caches...)."""
DEBRIS_FOLDERS = {
    "__MACOSX": "macOS archive debris (__MACOSX/)",
    "@eaDir": "Synology thumbnails (@eaDir/)",
}
"""Folders that tools add beside photos, with copies or thumbnails of them: never the user's photos."""


def ignore_reason(relative: str) -> str | None:
    """Why the file at `relative` (its path below the input folder, `/`-separated) is not a photo, or None.

    Judged by name only, the same way for local and S3 inputs and for `cloud upload`: macOS and NAS
    debris, system files, hidden files and folders (a name starting with `.`: `._*` AppleDouble
    companions, `.Trashes/`, thumbnail caches; such photos are hidden on purpose), other extensions.
    A name starting with `_` is a camera's (`_DSC0001.JPG`), not hidden.
    """
    *folders, name = relative.split("/")
    for folder in folders:
        if folder in DEBRIS_FOLDERS:
            return DEBRIS_FOLDERS[folder]
        if folder.startswith("."):
            return f"in a hidden folder ({folder}/)"
    if name in SYSTEM_FILES:
        return f"system file ({name.strip()})"
    if name.startswith("._"):
        return "macOS AppleDouble companion (._*)"
    if name.startswith("."):
        return "hidden file (name starts with '.')"
    if _PHOTO_RE.search(name) is None:
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        return f"not a photo (.{extension})" if extension else "not a photo (no extension)"
    return None


def is_photo(relative: str) -> bool:
    """True for a file the job reads as a photo, by its path below the input folder (or its bare name)."""
    return ignore_reason(relative) is None
