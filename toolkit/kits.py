"""The share kit: one ZIP with the image, the text and the alt text, ready to post."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def slug(title: str, fallback: str = "post") -> str:
    """A file name people recognise: ASCII, lower case, dashes; never empty."""
    ascii_only = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")[:60].strip("-")
    return cleaned or fallback


def image_filename(title: str, content_type: str) -> str:
    return f"{slug(title)}.{_EXTENSIONS.get(content_type, 'bin')}"


def build_kit(
    title: str, text: str, alt_text: str, image: bytes | None, content_type: str = "image/jpeg"
) -> bytes:
    """ZIP with post.txt and alt-text.txt in UTF-8 (with BOM-free LF endings) and the image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as kit:
        kit.writestr("post.txt", text.encode("utf-8"))
        kit.writestr("alt-text.txt", alt_text.encode("utf-8"))
        if image is not None:
            # Images are compressed already; storing them saves time and nothing else.
            kit.writestr(
                zipfile.ZipInfo(image_filename(title, content_type)), image, compress_type=zipfile.ZIP_STORED
            )
    return buffer.getvalue()
