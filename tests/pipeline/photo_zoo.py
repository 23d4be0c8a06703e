"""Awkward inputs for the job, made on the fly: what users' folders really contain."""

from __future__ import annotations

import io
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
