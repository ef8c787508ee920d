"""The console's people: users, login sessions, two-step decisions and attachments; the audit log append-only

``users`` (one authority and one role each; the password as an argon2 hash; disabled, never deleted),
``console_sessions`` (the SHA-256 of a login cookie, its CSRF token, expiry and logout), ``proposals`` and ``proposal_reviews`` (初审 / 审核 of listing, objection, repair and
revocation decisions), ``attachments`` (uploaded PDF and image evidence with its SHA-256). The audit log (0001, every
write with its user), proposals, reviews and attachments are history: triggers refuse UPDATE and DELETE on both databases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:10:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
HISTORY = ("audit_log", "proposals", "proposal_reviews", "attachments")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("authority", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("disabled_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_console_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("decision", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("proposed_at", TS, nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["list_entries.id"], name=op.f("fk_proposals_entry_id_list_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    op.create_index(op.f("ix_proposals_entry_id"), "proposals", ["entry_id"], unique=False)
    op.create_table(
        "proposal_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewed_at", TS, nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_reviews_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_reviews")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_proposal_reviews_proposal_id")),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_sha256"), "attachments", ["sha256"], unique=False)
    # The admin of every authority, with no password: it acts from the CLI as the commands always did; `supervise
    # users password admin` gives it one for the console.
    users = sa.table(
        "users",
        sa.column("name", sa.String),
        sa.column("authority", sa.String),
        sa.column("role", sa.String),
        sa.column("password_hash", sa.Text),
        sa.column("created_at", TS),
        sa.column("created_by", sa.String),
    )
    op.bulk_insert(
        users,
        [
            {
                "name": "admin",
                "authority": None,
                "role": "admin",
                "password_hash": "!",
                "created_at": dt.datetime.now(dt.UTC),
                "created_by": "supervise init",
            }
        ],
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION console_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only: it is history, never updated or deleted', TG_TABLE_NAME; "
            "END $$"
        )
        for table in HISTORY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION console_history_append_only()"
            )
    else:
        for table in HISTORY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: it is history, never updated or deleted'); "
                    "END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in HISTORY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS console_history_append_only()")
    op.drop_index(op.f("ix_attachments_sha256"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_table("proposal_reviews")
    op.drop_index(op.f("ix_proposals_entry_id"), table_name="proposals")
    op.drop_table("proposals")
    op.drop_table("console_sessions")
    op.drop_table("users")
