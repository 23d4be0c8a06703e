import numpy as np
import pytest

from pipeline.model.decoding import UnreadableImage, decode_image
from pipeline.storage.photo_names import ignore_reason, is_photo
from tests.pipeline.photo_zoo import CONVERTED, SKIPPED, zoo


@pytest.mark.parametrize("name", CONVERTED)
def test_convertible_photos_become_rgb_arrays_of_the_requested_size(sample_photo, name):
    pixels = decode_image(zoo(sample_photo)[name], 96)
    assert pixels.shape == (96, 96, 3) and pixels.dtype == np.uint8
    assert 20 < pixels.mean() < 250  # real content, not a black or blank frame


@pytest.mark.parametrize("name,reason", SKIPPED.items())
def test_unreadable_files_raise_with_a_reason(sample_photo, name, reason):
    with pytest.raises(UnreadableImage, match=reason):
        decode_image(zoo(sample_photo)[name], 96)


def test_transparency_is_composited_on_white(sample_photo):
    import io

    from PIL import Image

    clear = Image.new("RGBA", (50, 50), (255, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, format="PNG")
    assert decode_image(buffer.getvalue(), 32).min() == 255


def test_exif_rotation_is_applied():
    import io

    from PIL import Image

    wide = Image.new("RGB", (80, 40), (0, 0, 0))
    wide.paste((255, 255, 255), (0, 0, 40, 40))  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif.tobytes())
    pixels = decode_image(buffer.getvalue(), 40)
    assert pixels[:20].mean() > 200 and pixels[20:].mean() < 60  # white now on top


@pytest.mark.parametrize("name", ["a.jpg", "a.JPG", "a.jpeg", "a.JpEg", "a.png", "a.PNG", "_DSC0001.JPG", "x/y/a.jpg"])
def test_photo_extensions_in_any_case(name):
    assert is_photo(name) and is_photo(f"Apple/{name}")


@pytest.mark.parametrize(
    "relative,reason",
    [
        ("Apple/a.txt", "not a photo (.txt)"),
        ("Apple/a.jpg.txt", "not a photo (.txt)"),
        ("Apple/a.gif", "not a photo (.gif)"),
        ("Apple/jpg", "not a photo (no extension)"),
        ("Apple/.DS_Store", "system file (.DS_Store)"),
        ("Apple/Thumbs.db", "system file (Thumbs.db)"),
        ("Apple/Icon\r", "system file (Icon)"),
        ("Apple/._a.jpg", "macOS AppleDouble companion (._*)"),
        ("Apple/.IMG_1.jpg", "hidden file (name starts with '.')"),
        ("__MACOSX/Apple/a.jpg", "macOS archive debris (__MACOSX/)"),
        ("Apple/@eaDir/a.jpg/SYNOPHOTO_THUMB_XL.jpg", "Synology thumbnails (@eaDir/)"),
        ("Apple/.thumbnails/a.jpg", "in a hidden folder (.thumbnails/)"),
    ],
)
def test_what_is_not_a_photo_is_named_with_its_reason(relative, reason):
    assert ignore_reason(relative) == reason and not is_photo(relative)
