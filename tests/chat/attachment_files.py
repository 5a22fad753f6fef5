"""Files for the attachment tests, made by the tests themselves (nothing is downloaded)."""

from __future__ import annotations

import io

from PIL import Image

from tests.datasets.files import _pdf_text


def make_png(width: int = 40, height: int = 30, *, alpha: bool = False) -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", (width, height), (200, 30, 60, 128))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_jpeg_with_metadata(width: int = 64, height: int = 48) -> bytes:
    """A JPEG that says where it was taken and by which camera (EXIF), with a comment."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Industries"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"secret comment")
    return out.getvalue()


def make_gif_animation() -> bytes:
    frames = [Image.new("P", (20, 20), color) for color in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return out.getvalue()


def make_png_bomb(side: int = 20000) -> bytes:
    """A small PNG file whose header promises ``side``² pixels (one colour: it compresses)."""
    image = Image.new("1", (side, side), 0)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML_AS_IMAGE = b"<!doctype html><html><body><script>alert(1)</script>pwned</body></html>"


def make_pdf_with_javascript(lines: list[str], script: str) -> bytes:
    """A one-page PDF with a text layer that runs ``script`` when opened (an OpenAction)."""
    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({_pdf_text(line)}) '" for line in lines)
    stream = (content + " ET").encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /S /JavaScript /JS (%s) >>" % _pdf_text(script).encode("latin-1"),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()
