"""Images a person attaches, re-encoded before anything keeps them.

The bytes are untrusted: only PNG, JPEG, WebP and GIF are opened, recognised by their first
bytes (never by the name or the browser's content type, so an SVG or an HTML page named
``cat.png`` is refused), their pixel count is checked from the header before a pixel is
decoded (a decompression bomb is refused, not expanded), and what is kept is a new image
drawn from the decoded pixels alone: no EXIF (location, camera), no ICC profile, no text
chunks, no second frame. PNG out for a PNG or GIF (screenshots and drawings stay sharp) and
for anything with transparency, JPEG otherwise.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# The longest side an image is kept at (what vision models read well), and its thumbnail's.
MAX_SIDE = 2048
THUMB_SIDE = 320
JPEG_QUALITY = 85

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}


class ImageRefused(Exception):
    """The file is not an image aiportal keeps; the message says why, for the person."""


@dataclass(frozen=True)
class Reencoded:
    data: bytes
    media_type: str  # image/jpeg or image/png
    width: int
    height: int
    thumb: bytes


def image_format_sniff(head: bytes) -> str | None:
    """The Pillow format of an image from its first bytes; None for anything else."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _encode(image: Image.Image, *, png: bool) -> tuple[bytes, str]:
    out = io.BytesIO()
    if png:
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), "image/jpeg"


def image_reencode(data: bytes) -> Reencoded:
    """The image in ``data`` drawn anew, bounded to ``MAX_SIDE``, with its thumbnail.
    Raises ImageRefused."""
    fmt = image_format_sniff(data[:16])
    if fmt is None:
        raise ImageRefused(_("it is not a PNG, JPEG, WebP or GIF image"))
    limit = settings.AIPORTAL_ATTACHMENT_MAX_PIXELS
    try:
        # Pillow's own bomb check is process-wide (Image.MAX_IMAGE_PIXELS) and only warns
        # below twice its limit: ours is read from the header first, and any warning of
        # Pillow's is an error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as source:
                width, height = source.size
                if width < 1 or height < 1 or width * height > limit:
                    raise ImageRefused(
                        _("it has %(width)s by %(height)s pixels; at most %(limit)s are accepted")
                        % {"width": width, "height": height, "limit": limit}
                    )
                source.seek(0)  # an animation's first frame
                source.load()
                image = ImageOps.exif_transpose(source)  # upright, as the camera meant
                alpha = image.mode in {"RGBA", "LA", "PA"} or (
                    image.mode == "P" and "transparency" in image.info
                )
                pixels = image.convert("RGBA" if alpha else "RGB")
                lossless = alpha or fmt in {"PNG", "GIF"}
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(_("it decodes to more pixels than accepted")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise ImageRefused(_("it could not be read as an image")) from None
    # A new image from the pixels alone: nothing of the file's metadata comes along.
    clean = Image.new(pixels.mode, pixels.size)
    clean.paste(pixels)
    clean.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    kept, media_type = _encode(clean, png=lossless)
    small = clean.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    thumb, _media = _encode(small, png=lossless)
    return Reencoded(
        data=kept, media_type=media_type, width=clean.width, height=clean.height, thumb=thumb
    )
