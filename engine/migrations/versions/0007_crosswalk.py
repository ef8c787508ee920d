"""Former numbers and names: the 注册号 -> USCC crosswalk, former names (曾用名), an entity's former 注册号

``reg_no_crosswalk``: a 15-digit 注册号 and the USCC that replaced it, as the 换照 records give them (supervise
import crosswalk). ``former_names``: a name an entity (by USCC) had before, with the day it changed. ``entities.reg_no``:
the register's own former-number field. Records without a USCC are matched through them (docs/matching.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("entities") as batch:
        batch.add_column(sa.Column("reg_no", sa.String(length=15), nullable=True))
        batch.create_index(batch.f("ix_entities_reg_no"), ["reg_no"], unique=False)
    op.create_table(
        "reg_no_crosswalk",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reg_no", sa.String(length=15), nullable=False),
        sa.Column("code", sa.String(length=18), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_no_crosswalk")),
        sa.UniqueConstraint("reg_no", name=op.f("uq_reg_no_crosswalk_reg_no")),
    )
    op.create_index(op.f("ix_reg_no_crosswalk_code"), "reg_no_crosswalk", ["code"], unique=False)
    op.create_table(
        "former_names",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=18), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("used_until", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_former_names")),
        sa.UniqueConstraint("code", "name", name=op.f("uq_former_names_code_name")),
    )


def downgrade() -> None:
    op.drop_table("former_names")
    op.drop_index(op.f("ix_reg_no_crosswalk_code"), table_name="reg_no_crosswalk")
    op.drop_table("reg_no_crosswalk")
    with op.batch_alter_table("entities") as batch:
        batch.drop_index(batch.f("ix_entities_reg_no"))
        batch.drop_column("reg_no")
