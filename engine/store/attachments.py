"""Queries of uploaded attachments (migration 0005): the file's bytes with its SHA-256, name and type."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now
from engine.store import schema as t

A = t.attachments


def insert(conn: Connection, sha256: str, filename: str, media_type: str, content: bytes, by: str) -> int:
    return conn.execute(
        A.insert()
        .values(
            sha256=sha256,
            filename=filename,
            media_type=media_type,
            size=len(content),
            content=content,
            uploaded_by=by,
            uploaded_at=now(),
        )
        .returning(A.c.id)
    ).scalar_one()


def get(conn: Connection, attachment_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(A).where(A.c.id == attachment_id)).mappings().first()
    return dict(row) if row else None
