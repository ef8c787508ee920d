"""check service: apps, api_nonces and the decision log (checks)

``apps`` holds who may call ``supervise serve`` (a verifier of each secret, never the secret), ``api_nonces`` the
nonces signed requests used, ``checks`` every answered check, ``check_feedback`` what a service system did for a
subject of a check (once per subject). ``checks`` is append-only: triggers refuse UPDATE
and DELETE on both databases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
REFUSED = "checks is append-only: the decision log is never updated or deleted"


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("verifier", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("app_key", name=op.f("uq_apps_app_key")),
    )
    op.create_table(
        "api_nonces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_api_nonces_app_id_apps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_nonces")),
        sa.UniqueConstraint("app_id", "nonce", name=op.f("uq_api_nonces_app_id_nonce")),
    )
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("case_no", sa.Text(), nullable=True),
        sa.Column("service_item", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("answer", JSON, nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_checks_app_id_apps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
    )
    op.create_index(op.f("ix_checks_app_id"), "checks", ["app_id"], unique=False)
    op.create_index(op.f("ix_checks_requested_at"), "checks", ["requested_at"], unique=False)
    op.create_table(
        "check_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("operator", sa.String(length=128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("acked_tasks", JSON, nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_check_feedback_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_feedback")),
        sa.UniqueConstraint("check_id", "ref", name=op.f("uq_check_feedback_check_id_ref")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION checks_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER checks_append_only BEFORE UPDATE OR DELETE ON checks "
            "FOR EACH ROW EXECUTE FUNCTION checks_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER checks_no_{event.lower()} BEFORE {event} ON checks "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS checks_append_only ON checks")
        op.execute("DROP FUNCTION IF EXISTS checks_append_only()")
    op.drop_table("check_feedback")
    op.drop_index(op.f("ix_checks_requested_at"), table_name="checks")
    op.drop_index(op.f("ix_checks_app_id"), table_name="checks")
    op.drop_table("checks")
    op.drop_table("api_nonces")
    op.drop_table("apps")
