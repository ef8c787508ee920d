"""Evidence uploaded in the console (an objection's materials, a repair application's commitment and proofs): kept
in the database with its SHA-256, so the file a decision rests on is where the decision is.

Only PDF, PNG and JPEG are taken, recognised by their first bytes (never by the name or the browser's word), up to
:data:`MAX_BYTES`. The reference returned (``name``, ``attachment_id``, ``size``, ``sha256``, ``media_type``) is what
an objection or repair application stores as its evidence, in place of a file path.
"""

from __future__ import annotations

import hashlib
import pathlib
import unicodedata
from typing import Any

from engine.errors import ListError
from engine.store import attachments as q

MAX_BYTES = 10 * 1024 * 1024
KINDS = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def media_type(content: bytes) -> str | None:
    return next((kind for magic, kind in KINDS if content.startswith(magic)), None)


def clean_name(filename: str) -> str:
    """The file's own name without folders or control characters (at most 120 characters)."""
    name = pathlib.PurePosixPath(str(filename or "").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:120] or "附件"


def store_upload(conn, user_name: str, filename: str, content: bytes) -> dict[str, Any]:
    """Check and keep one uploaded file; its reference (refused with a sentence naming the file otherwise)."""
    name = clean_name(filename)
    if not content:
        raise ListError(f"文件“{name}”是空的，请重新选择。")
    if len(content) > MAX_BYTES:
        raise ListError(f"文件“{name}”有{len(content) / 1048576:.1f} MB，超过{MAX_BYTES // 1048576} MB的上限。")
    kind = media_type(content)
    if kind is None:
        raise ListError(f"文件“{name}”不是PDF、PNG或JPEG文件：只接受这三种格式的材料。")
    digest = hashlib.sha256(content).hexdigest()
    attachment_id = q.insert(conn, digest, name, kind, content, user_name)
    return {"name": name, "attachment_id": attachment_id, "size": len(content), "sha256": digest, "media_type": kind}


def get(conn, attachment_id: int) -> dict[str, Any]:
    row = q.get(conn, attachment_id)
    if row is None:
        raise ListError(f"There is no attachment {attachment_id}.")
    return row
