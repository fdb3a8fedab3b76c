"""What the bytes of an upload are: size and SHA-256 (streamed), the MIME type sniffed from the bytes
(``filetype``, pure Python, no libmagic), whether that contradicts the declared type, and thumbnails (Pillow).

Libraries are imported inside the functions: handler modules must stay cheap to import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

HEAD_BYTES = 8192  # enough for every signature filetype knows

# Declared types that name the same thing as the sniffed one.
ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
    "audio/mp3": "audio/mpeg", "audio/wav": "audio/x-wav", "audio/wave": "audio/x-wav",
    "audio/flac": "audio/x-flac", "video/avi": "video/x-msvideo", "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip", "application/x-gzip": "application/gzip",
    "image/x-ms-bmp": "image/bmp", "image/vnd.microsoft.icon": "image/x-icon", "font/woff": "application/font-woff",
    "application/x-rar": "application/x-rar-compressed", "application/vnd.rar": "application/x-rar-compressed",
}
# Container formats: the sniffer may only see the container of these declared types.
CONTAINERS = {
    "application/zip": ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
                        "application/epub+zip", "application/java-archive", "application/vnd.android.package-archive",
                        "application/x-zip", "application/zip"),
    "application/x-msdownload": ("application/vnd.microsoft.portable-executable", "application/x-dosexec"),
    "application/msword": ("application/vnd.ms-", "application/msword"),
    "application/vnd.ms-excel": ("application/vnd.ms-", "application/msword"),
    "application/vnd.ms-powerpoint": ("application/vnd.ms-", "application/msword"),
    "video/mp4": ("audio/mp4", "video/mp4", "video/quicktime", "video/x-m4v"),
    "audio/mp4": ("audio/mp4", "video/mp4", "audio/x-m4a", "audio/aac"),
}
GENERIC = frozenset({"application/octet-stream", "binary/octet-stream"})
THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"})
OCR_TYPES = frozenset({"image/jpeg", "image/png", "image/tiff", "image/bmp", "image/gif", "image/webp",
                       "application/pdf"})


@dataclass
class Digest:
    size: int
    sha256: str
    head: bytes
    data: bytes | None  # every byte, when asked to keep them


def digest(chunks: Iterable[bytes], *, keep_up_to: int = 0) -> Digest:
    """One streaming pass: size, SHA-256 and the first bytes; every byte only if there are at most ``keep_up_to``."""
    hasher = hashlib.sha256()
    size = 0
    head = bytearray()
    kept: bytearray | None = bytearray() if keep_up_to > 0 else None
    for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
        if len(head) < HEAD_BYTES:
            head.extend(chunk[:HEAD_BYTES - len(head)])
        if kept is not None:
            if size > keep_up_to:
                kept = None
            else:
                kept.extend(chunk)
    return Digest(size=size, sha256=hasher.hexdigest(), head=bytes(head),
                  data=bytes(kept) if kept is not None else None)


def normalise(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The MIME type the bytes show, or None when they carry no known signature (text, unknown formats)."""
    import filetype

    kind = filetype.guess(head)
    return normalise(kind.mime) if kind is not None else None


def _sniffable(content_type: str) -> bool:
    """Whether ``filetype`` knows a signature for this type: then bytes without it contradict the declaration."""
    import filetype

    known = {normalise(t.mime) for t in filetype.types}
    return content_type in known and content_type not in GENERIC


def contradiction(declared: str, detected: str | None) -> str | None:
    """Why the bytes contradict the declared type, or None when they are compatible."""
    wanted = normalise(declared)
    if wanted in GENERIC:
        return None
    if detected is None:
        if _sniffable(wanted):
            return f"declared {wanted}, but the bytes carry no {wanted} signature"
        return None
    if detected == wanted:
        return None
    allowed = CONTAINERS.get(detected, ())
    if any(wanted.startswith(prefix) for prefix in allowed):
        return None
    return f"declared {wanted}, but the bytes are {detected}"


def thumbnail(data: bytes, pixels: int) -> bytes | None:
    """A PNG at most ``pixels`` on its longer side, or None if Pillow cannot read the image."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            image.draft("RGB", (pixels, pixels))  # JPEG: decode at a reduced scale
            image.thumbnail((pixels, pixels))
            converted = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
            out = io.BytesIO()
            converted.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
