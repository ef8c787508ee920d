"""An index on the 组织机构代码 inside a USCC: ``substr(code, 9, 9)`` of ``entities``

A record that gives only a 组织机构代码 is matched by the register's USCC positions 9-17 (docs/matching.md); without
this index each such row scanned the register. An expression index, on SQLite and PostgreSQL alike; the query
spells the expression the same way (engine.store.schema.ORG_CODE).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_entities_org_code", "entities", [sa.text("substr(code, 9, 9)")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_entities_org_code", table_name="entities")
