"""Console jobs (work handed to a worker process) and seeds announced before a plan is drawn

``console_jobs``: what a console route asks a worker process to do (simulate a draft pack, draw or verify an
inspection plan), with its status, result or error. ``seed_announcements``: the seed of a plan, made public before
the draw with where the public can read it; append-only (triggers refuse UPDATE and DELETE).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:25:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_jobs")),
    )
    op.create_table(
        "seed_announcements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("announced_at", TS, nullable=False),
        sa.Column("announced_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycles.id"], name=op.f("fk_seed_announcements_cycle_id_cycles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seed_announcements")),
        sa.UniqueConstraint("cycle_id", "seed", name=op.f("uq_seed_announcements_cycle_id_seed")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION seed_announcements_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'seed_announcements is append-only: an announced seed is never changed'; END $$"
        )
        op.execute(
            "CREATE TRIGGER seed_announcements_append_only BEFORE UPDATE OR DELETE ON seed_announcements "
            "FOR EACH ROW EXECUTE FUNCTION seed_announcements_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER seed_announcements_no_{event.lower()} BEFORE {event} ON seed_announcements "
                "BEGIN SELECT RAISE(ABORT, 'seed_announcements is append-only: an announced seed is never changed'); "
                "END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS seed_announcements_append_only ON seed_announcements")
        op.execute("DROP FUNCTION IF EXISTS seed_announcements_append_only()")
    op.drop_table("seed_announcements")
    op.drop_table("console_jobs")
