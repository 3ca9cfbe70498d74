from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from toolkit.errors import Invalid, UnsupportedMedia
from toolkit.imaging.inspect import SUPPORTED_TYPES, ImageInfo, inspect_upload, sniff_content_type

from .samples import animated_gif, detailed, encode, png_declaring, write

LIMIT = 80_000_000


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return buf.getvalue()


def _webp_declaring(width: int, height: int) -> bytes:
    """A WebP whose extended header declares a width x height canvas, with nothing behind it."""
    body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


NOT_IMAGES = {
    "text": b"Hello, this is a plain text file pretending to be a photo.\n",
    "html": b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
    "zip": _zip(),
    "pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
}


def test_inspect_upload_empty_file_is_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.jpg", b"")
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.status == 422
    assert caught.value.text() == "The file is empty."


@pytest.mark.parametrize("kind", NOT_IMAGES)
def test_inspect_upload_non_image_named_jpg_is_unsupported(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, "photo.jpg", NOT_IMAGES[kind])
    with pytest.raises(UnsupportedMedia) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.status == 415
    assert all(name in caught.value.text() for name in ("JPEG", "PNG", "WebP", "GIF", "TIFF"))


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- logo -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
    ids=["bare", "with-prolog"],
)
def test_inspect_upload_svg_is_unsupported_with_its_own_message(tmp_path: Path, svg: bytes) -> None:
    path = write(tmp_path, "logo.png", svg)
    with pytest.raises(UnsupportedMedia) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.status == 415
    assert "SVG is not supported yet" in caught.value.text()


def test_inspect_upload_huge_declared_png_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> Any:
        raise AssertionError("pixels were decoded before the pixel limit was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    path = write(tmp_path, "bomb.png", png_declaring(100_000, 100_000))
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.status == 422
    assert caught.value.params == {"pixels": 10_000_000_000, "limit": LIMIT}


def test_inspect_upload_huge_declared_webp_is_refused_before_opening(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.webp", _webp_declaring(16_000, 16_000))
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.params["pixels"] == 256_000_000


def test_inspect_upload_png_within_limit_but_without_data_is_damaged(tmp_path: Path) -> None:
    path = write(tmp_path, "hollow.png", png_declaring(3000, 2000))
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.text() == "The image is damaged or incomplete."


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_inspect_upload_truncated_file_is_damaged(tmp_path: Path, fmt: str) -> None:
    data = encode(detailed((400, 300)), fmt)
    path = write(tmp_path, "cut", data[: len(data) // 2])
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=LIMIT)
    assert caught.value.status == 422
    assert caught.value.text() == "The image is damaged or incomplete."


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 8, b"\xff\xd8\xff\xe0" + b"\x13" * 64, b"GIF89a\x01"],
    ids=["png", "jpeg", "gif"],
)
def test_inspect_upload_bad_header_is_damaged(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        inspect_upload(write(tmp_path, "bad", data), max_pixels=LIMIT)
    assert caught.value.text() == "The image is damaged or incomplete."


def test_inspect_upload_animated_gif_counts_every_frame(tmp_path: Path) -> None:
    path = write(tmp_path, "anim.gif", animated_gif((100, 100), [(255, 0, 0), (0, 255, 0), (0, 0, 255)] * 2))
    with pytest.raises(Invalid) as caught:
        inspect_upload(path, max_pixels=50_000)
    assert caught.value.params == {"pixels": 60_000, "limit": 50_000}
    assert inspect_upload(path, max_pixels=60_000).frames == 6


def _rgba() -> Image.Image:
    img = detailed((64, 48)).convert("RGBA")
    img.putpixel((0, 0), (0, 0, 0, 0))
    return img


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (64, 48), 1)
    img.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    img.info["transparency"] = 0
    img.putpixel((0, 0), 0)
    return img


ACCEPTED: list[tuple[str, Callable[[], Image.Image], dict[str, Any], str, bool]] = [
    ("JPEG", lambda: detailed((64, 48)), {}, "image/jpeg", False),
    ("PNG", _rgba, {}, "image/png", True),
    ("PNG", lambda: detailed((64, 48)), {}, "image/png", False),
    ("WEBP", _rgba, {"lossless": True}, "image/webp", True),
    ("WEBP", lambda: detailed((64, 48)), {}, "image/webp", False),
    ("GIF", _palette_with_transparency, {}, "image/gif", True),
    ("TIFF", lambda: detailed((64, 48)), {"compression": "tiff_lzw"}, "image/tiff", False),
    ("TIFF", lambda: Image.new("CMYK", (64, 48), (0, 0, 0, 0)), {}, "image/tiff", False),
]


@pytest.mark.parametrize(
    ("fmt", "make", "params", "content_type", "has_alpha"),
    ACCEPTED,
    ids=["jpeg", "png-alpha", "png", "webp-alpha", "webp", "gif", "tiff", "tiff-cmyk"],
)
def test_inspect_upload_supported_type_is_described(
    tmp_path: Path,
    fmt: str,
    make: Callable[[], Image.Image],
    params: dict[str, Any],
    content_type: str,
    has_alpha: bool,
) -> None:
    path = write(tmp_path, "upload.bin", encode(make(), fmt, **params))
    assert inspect_upload(path, max_pixels=LIMIT) == ImageInfo(content_type, 64, 48, 1, has_alpha)


def test_inspect_upload_type_comes_from_bytes_not_name(tmp_path: Path) -> None:
    path = write(tmp_path, "holiday.jpg", encode(detailed((32, 32)), "PNG"))
    assert inspect_upload(path, max_pixels=LIMIT).content_type == "image/png"


def test_inspect_upload_multi_page_tiff_counts_pages(tmp_path: Path) -> None:
    pages = [detailed((50, 40)) for _ in range(3)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    info = inspect_upload(write(tmp_path, "pages.tif", data), max_pixels=LIMIT)
    assert (info.width, info.height, info.frames) == (50, 40, 3)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"MM\x00*\x00\x00", "image/tiff"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM6\x00", None),
        (b"", None),
    ],
)
def test_sniff_content_type_reads_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_content_type(head) == expected
    assert expected is None or expected in SUPPORTED_TYPES
