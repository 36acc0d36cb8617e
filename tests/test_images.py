"""Reading user images: every common format and mode, and a clear error for every bad file."""
import io

import numpy as np
import pytest
from PIL import Image

from fer_core.inference.images import ImageError, read_image


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_formats_decode_to_rgb(astronaut, fmt):
    rgb = read_image(_encode(Image.fromarray(astronaut), fmt), f"a.{fmt.lower()}")
    assert rgb.shape == astronaut.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - astronaut).mean() < 8  # lossy formats stay close


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "I;16"])
def test_modes_decode_to_rgb(astronaut, mode):
    image = Image.fromarray(astronaut)
    if mode == "I;16":
        grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
        image = Image.fromarray(grey)
        assert image.mode.startswith("I;16")
    else:
        image = image.convert(mode)
    rgb = read_image(_encode(image, "PNG"))
    assert rgb.shape == astronaut.shape and rgb.dtype == np.uint8
    assert rgb.std() > 20  # an image, not a blank


def test_exif_orientation_is_honoured(astronaut):
    wide = Image.fromarray(astronaut[:, :300])  # 512 tall, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rgb = read_image(_encode(wide, "JPEG", exif=exif.tobytes()))
    assert rgb.shape[:2] == (300, 512)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, I am text", "not an image file"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not an image|corrupt"),
])
def test_bad_bytes_have_clear_errors(data, message):
    with pytest.raises(ImageError, match=f"bad.jpg: .*({message})"):
        read_image(data, "bad.jpg")


def test_truncated_file(astronaut):
    data = _encode(Image.fromarray(astronaut), "PNG")
    with pytest.raises(ImageError, match="cut.png: corrupt or truncated"):
        read_image(data[: len(data) // 2], "cut.png")


def test_decompression_bomb_is_refused():
    bomb = _encode(Image.new("1", (9000, 9000)), "PNG")  # ~10 KB file, 81 megapixels
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="too large|decompression bomb"):
        read_image(bomb, "bomb.png")


def test_uploaded_bytes_over_the_byte_cap_are_refused(astronaut, monkeypatch):
    """Uploads (bytes) get the same size cap as paths; the same photo passes under the real cap."""
    from fer_core.inference import images
    data = _encode(Image.fromarray(astronaut), "PNG")
    assert read_image(data, "big.png").shape == astronaut.shape
    monkeypatch.setattr(images, "MAX_BYTES", len(data) - 1)
    with pytest.raises(ImageError, match="big.png: file is larger than .* MB"):
        read_image(data, "big.png")


def test_missing_path(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
