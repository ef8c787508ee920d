"""银税互动: partner banks' taxpayer authorisations, their revocations, and the loans banks report

``bank_authorisations`` holds a taxpayer's authorisation of one bank (an app with scope ``bank``) to read its tax
credit, ``bank_revocations`` the revocation of one (at most one per authorisation), ``bank_loans`` the loans banks
report (amount in integer fen; the bank's own reference unique per bank). All three are history: triggers refuse
UPDATE and DELETE on both databases (a revocation is a row of its own, never a change of the authorisation).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
TABLES = ("bank_authorisations", "bank_revocations", "bank_loans")


def upgrade() -> None:
    op.create_table(
        "bank_authorisations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("scope", JSON, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("document_ref", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_bank_authorisations_app_id_apps")),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_bank_authorisations_entity_id_entities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_authorisations")),
        sa.CheckConstraint("valid_to > valid_from", name=op.f("ck_bank_authorisations_to_after_from")),
    )
    op.create_index(
        op.f("ix_bank_authorisations_app_id_entity_id"), "bank_authorisations", ["app_id", "entity_id"], unique=False
    )
    op.create_table(
        "bank_revocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("authorisation_id", sa.Integer(), nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["bank_authorisations.id"],
            name=op.f("fk_bank_revocations_authorisation_id_bank_authorisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_revocations")),
        sa.UniqueConstraint("authorisation_id", name=op.f("uq_bank_revocations_authorisation_id")),
    )
    op.create_table(
        "bank_loans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sa.String(length=128), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("loan_date", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_bank_loans_app_id_apps")),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_bank_loans_entity_id_entities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_loans")),
        sa.UniqueConstraint("app_id", "loan_ref", name=op.f("uq_bank_loans_app_id_loan_ref")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_bank_loans_amount_positive")),
    )
    op.create_index(op.f("ix_bank_loans_loan_date"), "bank_loans", ["loan_date"], unique=False)
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bank_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only: bank history is never updated or deleted', TG_TABLE_NAME; "
            "END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION bank_history_append_only()"
            )
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: bank history is never updated or deleted'); "
                    "END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bank_history_append_only()")
    op.drop_index(op.f("ix_bank_loans_loan_date"), table_name="bank_loans")
    op.drop_table("bank_loans")
    op.drop_table("bank_revocations")
    op.drop_index(op.f("ix_bank_authorisations_app_id_entity_id"), table_name="bank_authorisations")
    op.drop_table("bank_authorisations")
