"""record versions: valid time and recorded time

A record keeps its natural key and gets versions: ``records`` holds the current version with its recorded time,
``record_versions`` every version it replaced (append-only), ``imports`` the import that wrote each version;
``cycles.known_at`` is the knowledge date a cycle evaluated with. Existing records become version 1, recorded
when they were imported; existing cycles knew what had been imported before they started.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("recorded_at", TS, nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=8), server_default="valid", nullable=False))
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("actor", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_records_import_id_imports"), "imports", ["import_id"], ["id"])
    op.execute("UPDATE records SET recorded_at = imported_at")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.alter_column("recorded_at", existing_type=TS, nullable=False)
    op.create_table(
        "record_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("superseded_at", TS, nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_record_versions_entity_id_entities")),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=op.f("fk_record_versions_import_id_imports")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_record_versions_record_id_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_versions")),
        sa.UniqueConstraint("record_id", "version", name=op.f("uq_record_versions_record_id_version")),
    )
    op.create_index(
        "ix_record_versions_entity_id_superseded_at", "record_versions", ["entity_id", "superseded_at"], unique=False
    )
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("known_at", TS, nullable=True))
    op.execute("UPDATE cycles SET known_at = started_at")


def downgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_column("known_at")
    op.drop_index("ix_record_versions_entity_id_superseded_at", table_name="record_versions")
    op.drop_table("record_versions")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_records_import_id_imports"), type_="foreignkey")
        batch_op.drop_column("reason")
        batch_op.drop_column("actor")
        batch_op.drop_column("import_id")
        batch_op.drop_column("status")
        batch_op.drop_column("recorded_at")
        batch_op.drop_column("version")
    op.drop_table("imports")
