"""Reading user images safely: any common format -> RGB uint8, or one clear error.

Handles JPEG, PNG, WebP, BMP, TIFF; grey, RGB, RGBA, palette and 16-bit images; EXIF
orientation; and refuses corrupt, truncated, empty and decompression-bomb files.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: the image file types the studio reads (photo uploads, folders given to ``batch``)
IMAGE_TYPES = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff")
#: Larger images are refused (a decompression bomb is a tiny file that unpacks to gigabytes).
MAX_PIXELS = 64_000_000
#: Larger files are refused, whether read from a path or uploaded as bytes.
MAX_BYTES = 100 * 1024 * 1024


class ImageError(ValueError):
    """A file that cannot be read as an image; the message names it and says why."""


def read_image(source: str | os.PathLike | bytes, name: str | None = None, *,
               max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file (a path or its bytes) into an ``(H, W, 3)`` RGB uint8 array.

    With ``max_pixels``, a larger image comes back shrunk to about that many pixels (aspect kept),
    and a JPEG is decoded at a reduced scale to begin with (libjpeg's 1/2, 1/4 or 1/8), so that
    its full-size pixels never exist in memory.

    Raises:
        ImageError: empty, corrupt, truncated, unsupported or too large.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        check_size(len(source), label)
        data = source
    else:
        data = _read_file(Path(source), label)
    if not data:
        raise ImageError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ImageError(
                        f"{label}: {image.width}x{image.height} pixels is too large "
                        f"(limit {MAX_PIXELS // 1_000_000} megapixels)"
                    )
                if max_pixels is not None:
                    image.draft(None, _fit(image.size, max_pixels))  # JPEG only; a no-op elsewhere
                image.load()
                image = ImageOps.exif_transpose(image)
                if max_pixels is not None and image.width * image.height > max_pixels and image.mode in _RESIZABLE:
                    image = image.resize(_fit(image.size, max_pixels), Image.Resampling.BOX)
                rgb = _to_rgb(image)
                if max_pixels is not None and rgb.shape[0] * rgb.shape[1] > max_pixels:  # modes PIL cannot resize
                    rgb = np.asarray(Image.fromarray(rgb).resize(_fit(rgb.shape[1::-1], max_pixels), Image.Resampling.BOX))
                return rgb
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}: refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: not an image file, or a format that is not supported") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{label}: corrupt or truncated image ({exc})") from exc


#: modes PIL resizes with a box filter (other modes are shrunk after their conversion to RGB)
_RESIZABLE = ("RGB", "RGBA", "L", "LA", "RGBX", "CMYK", "YCbCr")


def _fit(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` scaled down to at most ``max_pixels`` (unchanged when already within it)."""
    width, height = size
    scale = min(1.0, (max_pixels / float(width * height)) ** 0.5)
    return max(1, int(width * scale)), max(1, int(height * scale))


def check_size(size: int, label: str) -> None:
    """Refuse a file over :data:`MAX_BYTES` before reading or hashing it (an upload can be 400 MB).

    Raises:
        ImageError: ``size`` bytes is more than ``MAX_BYTES``.
    """
    if size > MAX_BYTES:
        raise ImageError(f"{label}: file is larger than {MAX_BYTES // 2**20} MB; resize or recompress it")


def _read_file(path: Path, label: str) -> bytes:
    """A file's bytes, or an ImageError that says what the path is instead of an image file."""
    try:
        if path.is_dir():
            raise ImageError(f"{label}: is a directory, not an image file; give the image files inside it")
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if not path.is_file():
            raise ImageError(f"{label}: not a regular file (a device, pipe or socket); give an image file")
        check_size(path.stat().st_size, label)
        return path.read_bytes()
    except OSError as exc:  # unreadable (permissions, a vanished network file): one line, not a traceback
        raise ImageError(f"{label}: cannot be read ({exc.strerror or exc})") from exc


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float grey: stretch to the 8-bit range rather than clip.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = np.zeros_like(values) if high == low else (values - low) * (255.0 / (high - low))
        grey = scaled.round().astype(np.uint8)
        return np.repeat(grey[:, :, np.newaxis], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white: transparent areas of a cut-out portrait should not read as black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB image, for downloads."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
