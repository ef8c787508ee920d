"""Matching records without a USCC: links, the match review queue, judgements

``record_links``: how a record imported with --match found its entity (method, score, explanation, the source
row). ``match_reviews``: rows held for a person, with their candidates. ``match_judgements``: a person's same /
not-same of a source key against an entity, reused by later imports. All three append-only (triggers refuse UPDATE
and DELETE).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TABLES = ("record_links", "match_reviews", "match_judgements")


def upgrade() -> None:
    op.create_table(
        "match_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("record", JSON, nullable=False),
        sa.Column("candidates", JSON, nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_reviews")),
    )
    op.create_index(op.f("ix_match_reviews_source_key"), "match_reviews", ["source_key"], unique=False)
    op.create_table(
        "match_judgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("judged_by", sa.String(length=128), nullable=False),
        sa.Column("judged_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_match_judgements_entity_id_entities")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["match_reviews.id"], name=op.f("fk_match_judgements_review_id_match_reviews")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_judgements")),
    )
    op.create_index(op.f("ix_match_judgements_source_key"), "match_judgements", ["source_key"], unique=False)
    op.create_table(
        "record_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("natural_key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("judgement_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_record_links_entity_id_entities")),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=op.f("fk_record_links_import_id_imports")),
        sa.ForeignKeyConstraint(
            ["judgement_id"], ["match_judgements.id"], name=op.f("fk_record_links_judgement_id_match_judgements")
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["match_reviews.id"], name=op.f("fk_record_links_review_id_match_reviews")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_links")),
    )
    op.create_index(
        "ix_record_links_entity_id_kind_natural_key", "record_links", ["entity_id", "kind", "natural_key"], unique=False
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION matching_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only: it is history, never updated or deleted', TG_TABLE_NAME; "
            "END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION matching_history_append_only()"
            )
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: it is history, never updated or deleted'); "
                    "END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS matching_history_append_only()")
    op.drop_index("ix_record_links_entity_id_kind_natural_key", table_name="record_links")
    op.drop_table("record_links")
    op.drop_index(op.f("ix_match_judgements_source_key"), table_name="match_judgements")
    op.drop_table("match_judgements")
    op.drop_index(op.f("ix_match_reviews_source_key"), table_name="match_reviews")
    op.drop_table("match_reviews")
