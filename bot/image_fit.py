"""An image's bytes made fit for one network: decoded with Pillow, turned upright, stripped, resized, re-encoded.

Pure (no I/O) but for Pillow, which is imported by `fit` itself: a command that posts no image never loads it.

Whatever the bytes claim, the work is bounded before a pixel is decoded:
- only JPEG, PNG, GIF and WEBP decoders are tried (`_FORMATS`): no rarely used decoder sees hostile input;
- the declared width × height is checked against `MAX_PIXELS` from the header alone, so a "bomb" (a few kilobytes
  that declare 100,000 × 100,000 pixels) is refused before it is decoded;
- an animation gives its first frame.
The image is always re-encoded, never sent as it came: that is what drops its metadata (EXIF with the camera's GPS
position, XMP, comments; the colour profile is kept). EXIF orientation is applied first, so it shows upright.
PNG is kept for an image with transparency when it fits; anything else becomes a JPEG, its quality lowered in
steps (`JPEG_QUALITIES`), then its size, until it is within the network's byte limit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from PIL import Image

    from bot.images import ImageLimits

__all__ = ["MAX_PIXELS", "Fitted", "ImageProblem", "fit"]

MAX_PIXELS: Final = 40_000_000  # 40 megapixels: above any photo a news site serves, far below a bomb
JPEG_QUALITIES: Final = (85, 75, 65, 50)
SHRINK_STEP: Final = 0.75  # each side's factor when even the lowest quality is over the byte limit
MAX_SHRINKS: Final = 8
_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP")


class ImageProblem(Exception):
    """The bytes cannot become an image within the limits; the message says why (for the log)."""


@dataclass(frozen=True, slots=True)
class Fitted:
    data: bytes
    mime_type: str
    width: int
    height: int


def fit(data: bytes, limits: ImageLimits) -> Fitted:
    """`data` decoded, upright, without metadata, within `limits` (side and bytes), or ImageProblem."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as opened:
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise ImageProblem(f"a decompression bomb: it declares {width}x{height} pixels, over {MAX_PIXELS}")
            opened.seek(0)  # an animation: its first frame
            if opened.format == "JPEG":
                opened.draft("RGB", (limits.max_side, limits.max_side))  # decode at a smaller scale when it can
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError as error:
        raise ImageProblem(f"a decompression bomb: {error}") from None
    except UnidentifiedImageError:
        raise ImageProblem("not an image newsbot reads (JPEG, PNG, GIF, WEBP)") from None
    except (OSError, ValueError, SyntaxError) as error:  # Pillow's damaged-file errors
        raise ImageProblem(f"the image is damaged: {error}") from None
    return _encode_within(image, limits)


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _encode_within(image: Image.Image, limits: ImageLimits) -> Fitted:
    from PIL import Image

    icc_profile = image.info.get("icc_profile")
    transparent = _has_transparency(image)
    image = image.convert("RGBA" if transparent else "RGB")
    image.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
    if transparent and "image/png" in limits.mime_types:
        png = _save(image, "PNG", icc_profile, optimize=True)
        if len(png) <= limits.max_bytes:
            return Fitted(png, "image/png", image.width, image.height)
    if transparent:
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    for _ in range(MAX_SHRINKS):
        for quality in JPEG_QUALITIES:
            jpeg = _save(image, "JPEG", icc_profile, quality=quality, optimize=True)
            if len(jpeg) <= limits.max_bytes:
                return Fitted(jpeg, "image/jpeg", image.width, image.height)
        smaller = (max(1, int(image.width * SHRINK_STEP)), max(1, int(image.height * SHRINK_STEP)))
        image = image.resize(smaller, Image.Resampling.LANCZOS)
    raise ImageProblem(f"cannot be made smaller than {limits.max_bytes} bytes")


def _save(image: Image.Image, kind: str, icc_profile: object, **options: object) -> bytes:
    out = io.BytesIO()
    if isinstance(icc_profile, bytes):
        options["icc_profile"] = icc_profile
    image.save(out, kind, **options)  # no exif= and no pnginfo=: the metadata stays behind
    return out.getvalue()
