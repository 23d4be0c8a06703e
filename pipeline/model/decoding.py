"""Photo decoding: bytes in, a fixed-size RGB array out, or a reason why not.

Pure functions (Pillow + NumPy only) so that they run in Spark's Python workers and
test without Spark. A photo that cannot be decoded raises `UnreadableImage` with a
reason meant for the run report; it never fails the job.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.storage.photo_names import EMPTY_FILE

MAX_PIXELS = 100_000_000
"""Largest photo decoded (100 megapixels); larger ones are skipped, not resized."""

_WHITE = (255, 255, 255)


class UnreadableImage(ValueError):
    """A file that cannot become a photo; the message is the reason shown to users."""


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
