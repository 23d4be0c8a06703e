"""Awkward inputs for the job, made on the fly: what users' folders really contain."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

CONVERTED = ("grey.jpg", "rgba.png", "cmyk.jpg", "palette.png", "palette_transparent.png", "grey16.png", "UPPER.JPG")
SKIPPED = {
    "corrupt.jpg": "corrupt",
    "truncated.jpg": "truncated",
    "empty.jpg": "empty file",
    "notes.jpg": "not a recognised image",
    "huge.jpg": "too large",
}


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with other dimensions in its frame header: a huge photo, cheaply."""
    start = jpeg.index(b"\xff\xc0")
    header = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return jpeg[: start + 5] + header + jpeg[start + 9 :]


def zoo(jpeg: bytes) -> dict[str, bytes]:
    """File name -> content, for every case in CONVERTED and SKIPPED, plus a non-photo file."""
    rgb = Image.open(io.BytesIO(jpeg)).convert("RGB")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    palette = rgb.convert("P", palette=Image.ADAPTIVE)
    transparent = palette.copy()
    transparent.info["transparency"] = 0
    grey16 = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    garbage = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    return {
        "grey.jpg": _encode(rgb.convert("L"), "JPEG"),
        "rgba.png": _encode(rgba, "PNG"),
        "cmyk.jpg": _encode(rgb.convert("CMYK"), "JPEG"),
        "palette.png": _encode(palette, "PNG"),
        "palette_transparent.png": _encode(transparent, "PNG"),
        "grey16.png": _encode(grey16, "PNG"),
        "UPPER.JPG": jpeg,
        "corrupt.jpg": jpeg[: jpeg.index(b"\xff\xda") + 20] + garbage,  # valid headers, garbage scan data
        "truncated.jpg": jpeg[: len(jpeg) * 2 // 3],
        "empty.jpg": b"",
        "notes.jpg": b"shopping list: apples, kiwis\n",
        "huge.jpg": with_declared_size(jpeg, 20000, 20000),
        "readme.txt": b"not a photo, ignored\n",
    }


def write_zoo(folder: Path, jpeg: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in zoo(jpeg).items():
        (folder / name).write_bytes(content)
    return folder


DECODE_FAILURES = {"Banana/corrupt.jpg"}
"""Cases that the listing takes as photos and the workers skip, when they decode them."""
AWKWARD_LABEL = 'Pomme "d\'or", #1 50% {x} é ü 日本'
"""A label (and a photo name below it) that CSV must quote: comma, quotes, apostrophe, %, #, {}, spaces, non-Latin."""
OUTSIDE = "outside"
"""A folder beside the input, reached through a link to a folder inside it."""


def write_folder_cases(root: Path, jpeg: bytes) -> dict[str, tuple[str, str]]:
    """A photo folder as people's folders are, under `root/input`: every case of the accounting rules.

    Returns {path below the input: (bucket, label or reason)}, the bucket being "photo" (then the
    label), "skipped" or "ignored" (then a fragment of the reason). A folder named like a photo and
    links to photos and to a folder are in it; a named pipe when the system has them.
    """
    photo = {"photo": jpeg, "png": _encode(Image.open(io.BytesIO(jpeg)), "PNG")}
    files = {
        "Apple/a.jpg": (photo["photo"], ("photo", "Apple")),
        "Apple/_DSC0001.JPG": (photo["photo"], ("photo", "Apple")),
        "Apple/2024/06/deep.jpeg": (photo["photo"], ("photo", "Apple")),
        "Apple/x.jpg/inside.jpg": (photo["photo"], ("photo", "Apple")),
        "_Banana/b.png": (photo["png"], ("photo", "_Banana")),
        f'{AWKWARD_LABEL}/苹果, it\'s "1".jpg': (photo["photo"], ("photo", AWKWARD_LABEL)),
        "Apple/.IMG_1.jpg": (photo["photo"], ("ignored", "hidden file")),
        "Apple/._a.jpg": (b"\x00\x05\x16\x07", ("ignored", "AppleDouble")),
        "Apple/.DS_Store": (b"\x00\x00\x00\x01Bud1", ("ignored", "system file (.DS_Store)")),
        "Apple/Thumbs.db": (b"\xd0\xcf\x11\xe0", ("ignored", "system file (Thumbs.db)")),
        "Apple/notes.txt": (b"apples\n", ("ignored", "not a photo (.txt)")),
        "__MACOSX/Apple/._a.jpg": (b"\x00\x05\x16\x07", ("ignored", "__MACOSX")),
        ".thumbnails/c.jpg": (photo["photo"], ("ignored", "hidden folder (.thumbnails/)")),
        "root.jpg": (photo["photo"], ("skipped", "not in a label folder")),
        "Banana/empty.jpg": (b"", ("skipped", "empty file")),
        "Banana/corrupt.jpg": (photo["photo"][: len(photo["photo"]) // 2], ("skipped", "truncated")),
    }
    folder = root / "input"
    for relative, (content, _) in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    cases = {relative: case for relative, (_, case) in files.items()}
    (folder / "Banana" / "link.jpg").symlink_to("../Apple/a.jpg")
    cases["Banana/link.jpg"] = ("photo", "Banana")
    (folder / "Banana" / "dangling.jpg").symlink_to("../Apple/missing.jpg")
    cases["Banana/dangling.jpg"] = ("skipped", "dangling link")
    (folder / "Banana" / "loop.jpg").symlink_to("loop.jpg")
    cases["Banana/loop.jpg"] = ("skipped", "link loop")
    (root / OUTSIDE).mkdir()
    (root / OUTSIDE / "d.jpg").write_bytes(photo["photo"])
    (folder / "Cherry").symlink_to(root / OUTSIDE, target_is_directory=True)
    cases["Cherry/d.jpg"] = ("photo", "Cherry")
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "Banana" / "pipe.jpg")
        cases["Banana/pipe.jpg"] = ("skipped", "not a regular file")
    return cases
