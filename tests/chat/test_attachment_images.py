"""Images are drawn anew at upload: metadata gone, size bounded, one frame."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chat.services.attachment_images import MAX_SIDE, image_reencode
from tests.chat.attachment_files import make_gif_animation, make_jpeg_with_metadata, make_png


def test_the_camera_location_and_comment_are_gone():
    original = make_jpeg_with_metadata()
    assert b"SpyCam" in original and b"secret comment" in original  # the test's own premise
    kept = image_reencode(original)
    assert b"SpyCam" not in kept.data and b"secret comment" not in kept.data
    assert b"SpyCam" not in kept.thumb
    image = Image.open(io.BytesIO(kept.data))
    assert not image.getexif()
    assert "exif" not in image.info and "comment" not in image.info
    assert "icc_profile" not in image.info


def test_a_large_image_is_bounded_and_keeps_its_shape():
    kept = image_reencode(make_png(5000, 2500))
    assert (kept.width, kept.height) == (MAX_SIDE, MAX_SIDE // 2)
    assert Image.open(io.BytesIO(kept.data)).size == (MAX_SIDE, MAX_SIDE // 2)


def test_transparency_is_kept_as_png_and_a_photo_becomes_jpeg():
    assert image_reencode(make_png(alpha=True)).media_type == "image/png"
    assert image_reencode(make_jpeg_with_metadata()).media_type == "image/jpeg"


def test_an_animation_keeps_its_first_frame_only():
    kept = image_reencode(make_gif_animation())
    image = Image.open(io.BytesIO(kept.data))
    assert kept.media_type == "image/png"
    assert getattr(image, "n_frames", 1) == 1


@pytest.mark.parametrize("fmt", ["WEBP", "GIF"])
def test_webp_and_gif_are_accepted(fmt):
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(out, format=fmt)
    kept = image_reencode(out.getvalue())
    assert (kept.width, kept.height) == (30, 20)
