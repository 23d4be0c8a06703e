"""Photo decoding: bytes in, a fixed-size RGB array out, or a reason why not.

Pure functions (Pillow + NumPy only) so that they run in Spark's Python workers and
test without Spark. A photo that cannot be decoded raises `UnreadableImage` with a
reason meant for the run report; it never fails the job.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 100_000_000
"""Largest photo decoded (100 megapixels); larger ones are skipped, not resized."""

EMPTY_FILE = "empty file (0 bytes)"

_PHOTO_RE = re.compile(r"(?i)\.(jpe?g|png)$")
"""The extensions of photos the job reads, in any case."""
_WHITE = (255, 255, 255)


class UnreadableImage(ValueError):
    """A file that cannot become a photo; the message is the reason shown to users."""


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


def decode_image(data: bytes, size: int) -> np.ndarray:
    """Decode JPEG/PNG bytes to a `size` x `size` x 3 uint8 RGB array.

    Greyscale, RGBA, CMYK, palette and 16-bit photos are converted (transparency
    is composited on white, the Fruits-360 background); EXIF rotation is applied.
    """
    if not data:
        raise UnreadableImage(EMPTY_FILE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise UnreadableImage(f"image too large: {width}x{height} pixels (limit {MAX_PIXELS // 1_000_000} MP)")
        image.draft("RGB", (size, size))  # JPEG: decode at reduced scale when much larger
        image.load()
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnreadableImage(f"image too large: {error}") from None
    except UnidentifiedImageError:
        raise UnreadableImage("not a recognised image (JPEG or PNG) file") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableImage(f"corrupt or truncated image data: {error}") from None
    return np.asarray(_to_rgb(ImageOps.exif_transpose(image)).resize((size, size), Image.BILINEAR))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if pixels.max(initial=0) > 255 else 255.0
        image = Image.fromarray((pixels * (255.0 / peak)).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGB", image.size, _WHITE)
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")
