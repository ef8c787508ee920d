"""Tables for the whole product (SQLAlchemy Core). Alembic migrations in engine/migrations create them.

Append-only tables (``record_versions``, ``imports``, ``list_events``, ``objection_decisions``, ``repair_decisions``,
``measure_acks``, ``audit_log``, ``notices``) are never updated or deleted by the library; state is derived from them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


entities = sa.Table(
    "entities",
    metadata,
    _id(),
    sa.Column("code", sa.String(18), nullable=False, unique=True),
    sa.Column("code_kind", sa.String(8), nullable=False),  # uscc | person
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("entity_type", sa.String(32), nullable=False),
    sa.Column("region", sa.String(6)),
    sa.Column("industry", sa.String(64)),
    sa.Column("established_on", sa.Date),
    sa.Column("legal_rep", sa.Text),  # personal data: masked wherever published
    sa.Column("extra", JSON),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    # The 15-digit 注册号 the entity had before its USCC (migration 0007): records that give only it are matched by it.
    sa.Column("reg_no", sa.String(15), index=True),
)
# The 组织机构代码 inside a USCC (positions 9-17, migration 0009): a row that gives only it is matched through this
# index. The query must spell the expression the same way (engine.store.matching.ORG_CODE).
ORG_CODE = sa.func.substr(entities.c.code, sa.literal_column("9"), sa.literal_column("9"))
sa.Index("ix_entities_org_code", ORG_CODE)

# One import of records (a file, or a clerk's single correction or annulment): the id every version it wrote names.
imports = sa.Table(
    "imports",
    metadata,
    _id(),
    sa.Column("kind", sa.String(16), nullable=False),  # file | correction | annulment
    sa.Column("source", sa.Text, nullable=False),  # the file, or the command
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("started_at", TS, nullable=False),
)

# Credit records, bitemporal. A record is its natural key (entity, kind, natural_key); ``date`` and ``data`` are its
# valid time (the fact's date and its end dates: annulled_on, removed_on, ended_on ...). This table holds the
# *current* version of each record with its recorded time (``recorded_at``; ``imported_at`` is when the record was
# first known); every version it replaced is in ``record_versions`` (SQL:2011 system versioning: a current table
# and an append-only history table whose rows carry the span they were the known version).
records = sa.Table(
    "records",
    metadata,
    _id(),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("natural_key", sa.String(255), nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Column("source", sa.String(255)),
    sa.Column("imported_at", TS, nullable=False),  # first recorded
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # this version recorded (an insert that gives only imported_at records version 1 then)
    sa.Column("recorded_at", TS, nullable=False, default=lambda ctx: ctx.get_current_parameters().get("imported_at")),
    sa.Column("status", sa.String(8), nullable=False, server_default="valid"),  # valid | void (entered in error)
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id")),
    sa.Column("actor", sa.String(128)),
    sa.Column("reason", sa.Text),  # why this version was recorded (a clerk's correction or annulment)
    sa.UniqueConstraint("entity_id", "kind", "natural_key"),
    sa.Index("ix_records_kind_date", "kind", "date"),
)

# Every superseded version of a record, never updated or deleted: the version that was known from ``recorded_at``
# until ``superseded_at`` (when the next version was recorded). "The records known at T" are the current versions
# recorded by T plus the history rows with recorded_at <= T < superseded_at.
record_versions = sa.Table(
    "record_versions",
    metadata,
    _id(),
    sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("source", sa.String(255)),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("superseded_at", TS, nullable=False),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id")),
    sa.Column("actor", sa.String(128)),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("record_id", "version"),
    sa.Index("ix_record_versions_entity_id_superseded_at", "entity_id", "superseded_at"),
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    _id(),
    sa.Column("pack_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("effective_to", sa.Date),
    sa.Column("body", JSON, nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("loaded_at", TS, nullable=False),
    sa.UniqueConstraint("content_hash"),
)

cycles = sa.Table(
    "cycles",
    metadata,
    _id(),
    sa.Column("pack_id", sa.String(64), nullable=False),
    sa.Column("period", sa.String(32), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("policy_version_id", sa.Integer, sa.ForeignKey("policy_versions.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # committed | superseded
    sa.Column("supersedes_id", sa.Integer, sa.ForeignKey("cycles.id")),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("committed_at", TS),
    sa.Column("entity_count", sa.Integer, nullable=False, default=0),
    sa.Column("summary", JSON),
    sa.Column("actor", sa.String(128)),
    # The knowledge date: the records the cycle evaluated are the versions recorded by then (replay uses it).
    sa.Column("known_at", TS),
    sa.UniqueConstraint("pack_id", "period", "revision"),
)

# One row per distinct evaluation (entities that agree on every predicate share it).
outcomes = sa.Table(
    "outcomes",
    metadata,
    _id(),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
    sa.Column("vector_key", sa.String(64), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("result", JSON, nullable=False),  # lists, measures, reasons, notices, inspection
    sa.UniqueConstraint("cycle_id", "vector_key"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    _id(),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("outcome_id", sa.Integer, sa.ForeignKey("outcomes.id"), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("ratio", sa.Float, nullable=False),
    sa.Column("per_year", sa.Float, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False, default=False),  # always inspected (e.g. black list)
    sa.Column("facts", JSON, nullable=False),  # fact values used, for explanation and replay checks
    sa.UniqueConstraint("cycle_id", "entity_id"),
)

list_entries = sa.Table(
    "list_entries",
    metadata,
    _id(),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False, index=True),
    sa.Column("list", sa.String(32), nullable=False),
    sa.Column("pack_id", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(64), nullable=False),
    sa.Column("basis", sa.Text, nullable=False),
    sa.Column("authority", sa.Text),
    sa.Column("decision_no", sa.String(128)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id")),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.id")),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("data", JSON),
)

list_events = sa.Table(
    "list_events",
    metadata,
    _id(),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # state after the event
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("data", JSON),
    sa.UniqueConstraint("entry_id", "seq"),
)

objections = sa.Table(
    "objections",
    metadata,
    _id(),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id"), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", JSON),
    sa.Column("filed_on", sa.Date, nullable=False),
    sa.Column("filed_at", TS, nullable=False),
    sa.Column("filed_by", sa.String(128), nullable=False),
)

objection_decisions = sa.Table(
    "objection_decisions",
    metadata,
    _id(),
    sa.Column("objection_id", sa.Integer, sa.ForeignKey("objections.id"), nullable=False, unique=True),
    sa.Column("decision", sa.String(16), nullable=False),  # upheld | rejected
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
    sa.Column("decided_by", sa.String(128), nullable=False),
)

repair_applications = sa.Table(
    "repair_applications",
    metadata,
    _id(),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id"), nullable=False, index=True),
    sa.Column("applied_on", sa.Date, nullable=False),
    sa.Column("applied_at", TS, nullable=False),
    sa.Column("applicant", sa.String(128), nullable=False),
    sa.Column("commitment", JSON),  # {path, sha256, size}
    sa.Column("evidence", JSON),
    sa.Column("eligibility", JSON, nullable=False),
)

repair_decisions = sa.Table(
    "repair_decisions",
    metadata,
    _id(),
    sa.Column("application_id", sa.Integer, sa.ForeignKey("repair_applications.id"), nullable=False, unique=True),
    sa.Column("decision", sa.String(16), nullable=False),  # approved | rejected
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("decided_at", TS, nullable=False),
    sa.Column("decided_by", sa.String(128), nullable=False),
)

measure_tasks = sa.Table(
    "measure_tasks",
    metadata,
    _id(),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id"), nullable=False, index=True),
    sa.Column("measure_id", sa.String(64), nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("action", sa.String(8), nullable=False),  # apply | lift
    sa.Column("created_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("data", JSON),
)

measure_acks = sa.Table(
    "measure_acks",
    metadata,
    _id(),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("measure_tasks.id"), nullable=False, unique=True),
    sa.Column("acked_on", sa.Date, nullable=False),
    sa.Column("acked_at", TS, nullable=False),
    sa.Column("acked_by", sa.String(128), nullable=False),
    sa.Column("note", sa.Text),
)

inspectors = sa.Table(
    "inspectors",
    metadata,
    _id(),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("region", sa.String(12), nullable=False),
    sa.Column("specialties", JSON, nullable=False),
    sa.Column("max_checks", sa.Integer, nullable=False),
    sa.Column("conflicts", JSON, nullable=False),  # entity codes this inspector must not inspect
    sa.Column("home_region", sa.String(12)),  # street/township for the recusal rule
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("updated_at", TS, nullable=False),
)

plans = sa.Table(
    "plans",
    metadata,
    _id(),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
    sa.Column("seed", sa.String(128), nullable=False),
    sa.Column("algorithm", sa.String(64), nullable=False),
    sa.Column("per_check", sa.Integer, nullable=False),
    sa.Column("params", JSON, nullable=False),
    sa.Column("candidates_fingerprint", sa.String(64), nullable=False),
    sa.Column("inspectors_fingerprint", sa.String(64), nullable=False),
    sa.Column("plan_fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("actor", sa.String(128)),
)

plan_checks = sa.Table(
    "plan_checks",
    metadata,
    _id(),
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("rank_key", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # sampled | forced
    sa.Column("items", JSON),
    sa.UniqueConstraint("plan_id", "seq"),
    sa.UniqueConstraint("plan_id", "entity_id"),
)

plan_assignments = sa.Table(
    "plan_assignments",
    metadata,
    _id(),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("plan_checks.id"), nullable=False),
    sa.Column("inspector_id", sa.Integer, sa.ForeignKey("inspectors.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.UniqueConstraint("check_id", "inspector_id"),
)

check_results = sa.Table(
    "check_results",
    metadata,
    _id(),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("plan_checks.id"), nullable=False, unique=True),
    sa.Column("outcome", sa.String(32), nullable=False),  # clean | problems | not_found | refused
    sa.Column("penalty_ref", sa.String(128)),
    sa.Column("inspected_on", sa.Date, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("recorded_at", TS, nullable=False),
)

plan_publications = sa.Table(
    "plan_publications",
    metadata,
    _id(),
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # plan | results
    sa.Column("published_on", sa.Date, nullable=False),
    sa.Column("published_at", TS, nullable=False),
    sa.Column("path", sa.Text),
)

notices = sa.Table(
    "notices",
    metadata,
    _id(),
    sa.Column("number", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False, index=True),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), index=True),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.id")),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id")),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("plan_checks.id")),
    sa.Column("source_key", sa.String(128), nullable=False, unique=True),  # what caused it; one notice per cause
    sa.Column("template", sa.String(128), nullable=False),
    sa.Column("pack_id", sa.String(64)),
    sa.Column("pack_version", sa.String(32)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("context", JSON, nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("issued_at", TS, nullable=False),
)

doc_counters = sa.Table(
    "doc_counters",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _id(),
    sa.Column("at", TS, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255)),
    sa.Column("detail", JSON),
)

# -- the check service (issue 16) ---------------------------------------------------------------------------

# An app that may call the check service. ``verifier`` is SHA-256 of its secret: the secret itself is
# HMAC-SHA256(server key, app_key + ":" + salt), derived again from the server key file outside the database
# (docs/service.md), so the database never holds a secret that could be read back.
apps = sa.Table(
    "apps",
    metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("app_key", sa.String(64), nullable=False, unique=True),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("verifier", sa.String(64), nullable=False),
    sa.Column("scopes", JSON, nullable=False),  # ["check", "feedback", "lists"]
    sa.Column("department", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("revoked_at", TS),
)

# Nonces a signed request used, once per app: a second request with one is a replay.
api_nonces = sa.Table(
    "api_nonces",
    metadata,
    _id(),
    sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id"), nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("seen_at", TS, nullable=False),
    sa.UniqueConstraint("app_id", "nonce"),
)

# The decision log: one row per answered check, written in the transaction that answers it. Append-only (the
# database refuses UPDATE and DELETE by trigger); request and answer are stored with personal data masked.
checks = sa.Table(
    "checks",
    metadata,
    _id(),
    sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id"), nullable=False, index=True),
    sa.Column("department", sa.Text),  # the requester's
    sa.Column("case_no", sa.Text),
    sa.Column("service_item", sa.String(64), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("requested_at", TS, nullable=False, index=True),
    sa.Column("request", JSON, nullable=False),
    sa.Column("answer", JSON, nullable=False),
)

# Feedback on a check (抄告反馈): what the service system did for one subject (ref) of a logged check, once per ref;
# it acknowledges the measure tasks of the list entries the check cited. Append-only (the library only inserts).
check_feedback = sa.Table(
    "check_feedback",
    metadata,
    _id(),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("checks.id"), nullable=False),
    sa.Column("ref", sa.String(128), nullable=False),
    sa.Column("applied", sa.Boolean, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("operator", sa.String(128), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("acked_tasks", JSON, nullable=False),  # measure task ids this feedback acknowledged
    sa.UniqueConstraint("check_id", "ref"),
)

# 银税互动 (migration 0004). A taxpayer's authorisation of one partner bank (an app with scope ``bank``) to read
# its tax credit through GET /api/v1/bank/credit/{code}: the data it covers (``scope``), the days it is valid and
# the authorisation document's reference. Append-only (triggers refuse UPDATE and DELETE): a revocation is a row of
# ``bank_revocations``, at most one per authorisation.
bank_authorisations = sa.Table(
    "bank_authorisations",
    metadata,
    _id(),
    sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id"), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("scope", JSON, nullable=False),  # ["grade", "decision", "indicators"]
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=False),
    sa.Column("document_ref", sa.String(128), nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.CheckConstraint("valid_to > valid_from", name="to_after_from"),
    sa.Index("ix_bank_authorisations_app_id_entity_id", "app_id", "entity_id"),
)

bank_revocations = sa.Table(
    "bank_revocations",
    metadata,
    _id(),
    sa.Column("authorisation_id", sa.Integer, sa.ForeignKey("bank_authorisations.id"), nullable=False, unique=True),
    sa.Column("revoked_at", TS, nullable=False),
)

# The loans partner banks report (POST /api/v1/bank/loans): amount in integer fen (exact sums on both databases),
# the bank's own loan reference unique per bank. Append-only (triggers). ``supervise report bank-tax`` counts them
# by the taxpayer's tax grade at the loan date and by month.
bank_loans = sa.Table(
    "bank_loans",
    metadata,
    _id(),
    sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id"), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("loan_ref", sa.String(128), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("loan_date", sa.Date, nullable=False, index=True),
    sa.Column("term_months", sa.Integer, nullable=False),
    sa.Column("product", sa.String(128), nullable=False),
    sa.Column("reported_at", TS, nullable=False),
    sa.UniqueConstraint("app_id", "loan_ref"),
    sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
)

# The console's people (migration 0005). A user acts for one authority (an office: department + region prefix + the
# packs it runs, engine/authorities.offices) in one role; ``authority`` NULL only for an admin of every authority
# (the one ``supervise init`` creates). The password is kept only as an argon2 hash. A user is disabled, never
# deleted (its name stays in the history it signed).
users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("authority", sa.String(64)),
    sa.Column("role", sa.String(16), nullable=False),  # clerk | reviewer | admin
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("disabled_at", TS),
    sa.Column("disabled_by", sa.String(64)),
)

# Login sessions of the console: only the SHA-256 of the cookie's token is kept; ``ended_at`` is set by logout.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    _id(),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("ended_at", TS),
)

# Two-step decisions (初审 / 审核): a proposal of one decision on one list entry (serve its pre-listing notice, decide
# an objection, decide a repair application, revoke), and at most one review of it (approved: the decision is
# carried out in the review's transaction; returned: with the reviewer's reason, the clerk proposes again).
# Both append-only.
proposals = sa.Table(
    "proposals",
    metadata,
    _id(),
    sa.Column("kind", sa.String(16), nullable=False),  # listing | objection | repair | revocation
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("list_entries.id"), nullable=False, index=True),
    sa.Column("target_id", sa.Integer, nullable=False),  # the entry, objection or repair application
    sa.Column("decision", JSON, nullable=False),  # {"uphold": true} / {"approve": false} / {}
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("proposed_on", sa.Date, nullable=False),
    sa.Column("proposed_at", TS, nullable=False),
    sa.Column("proposed_by", sa.String(64), nullable=False),
)

proposal_reviews = sa.Table(
    "proposal_reviews",
    metadata,
    _id(),
    sa.Column("proposal_id", sa.Integer, sa.ForeignKey("proposals.id"), nullable=False, unique=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # approved | returned
    sa.Column("reason", sa.Text),
    sa.Column("reviewed_on", sa.Date, nullable=False),
    sa.Column("reviewed_at", TS, nullable=False),
    sa.Column("reviewed_by", sa.String(64), nullable=False),
)

# Files a clerk attaches to an objection or a repair application in the console (PDF or image), kept in the
# database with their SHA-256 so the evidence is where the decision is. Append-only.
attachments = sa.Table(
    "attachments",
    metadata,
    _id(),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("uploaded_at", TS, nullable=False),
)

# Work the console hands to a worker process (migration 0006): rule evaluation never runs in a web request. A job
# is queued by a route, run by `python -m engine.pipeline.jobs` (spawned per job), and holds its result or error.
console_jobs = sa.Table(
    "console_jobs",
    metadata,
    _id(),
    sa.Column("kind", sa.String(32), nullable=False),  # simulate | plan_draw | plan_verify
    sa.Column("params", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("result", JSON),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("started_at", TS),
    sa.Column("finished_at", TS),
)

# Seeds announced before a plan is drawn (双随机: the seed is made public in advance, e.g. a lottery draw's
# numbers of a named date), so anyone can check the plan was not fitted to it. Append-only.
seed_announcements = sa.Table(
    "seed_announcements",
    metadata,
    _id(),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
    sa.Column("seed", sa.String(128), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # where the public can read it (e.g. 福彩3D第2026150期开奖号码)
    sa.Column("announced_at", TS, nullable=False),
    sa.Column("announced_by", sa.String(64), nullable=False),
    sa.UniqueConstraint("cycle_id", "seed"),
)


# Numbers and names an entity had before (migration 0007), as the 换照 and change records give them: a record that
# names an entity by its former 注册号 or a former name (曾用名) is matched through them. Keyed by the USCC, not the
# entity id: a crosswalk may be imported before the register holds the entity.
reg_no_crosswalk = sa.Table(
    "reg_no_crosswalk",
    metadata,
    _id(),
    sa.Column("reg_no", sa.String(15), nullable=False, unique=True),
    sa.Column("code", sa.String(18), nullable=False, index=True),
    sa.Column("changed_on", sa.Date),  # the day the USCC replaced the 注册号 (换照), when known
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("imported_at", TS, nullable=False),
)

former_names = sa.Table(
    "former_names",
    metadata,
    _id(),
    sa.Column("code", sa.String(18), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("used_until", sa.Date),  # the day the name changed, when known
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("imported_at", TS, nullable=False),
    sa.UniqueConstraint("code", "name"),
)


# Records linked to an entity by matching (migration 0008, docs/matching.md "Importing with --match"): how each row
# of an import with --match (or a person's judgement) found its entity. One row per record version written that
# way, beside it: the method (uscc, org_code, reg_no, name, former_name, judgement), the score, which fields
# agreed, and what the source row said of the entity. Append-only.
record_links = sa.Table(
    "record_links",
    metadata,
    _id(),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("natural_key", sa.String(255), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("source", JSON, nullable=False),  # the row's code / name / region / legal_rep / industry
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("review_id", sa.Integer, sa.ForeignKey("match_reviews.id")),  # linked by a person's judgement
    sa.Column("judgement_id", sa.Integer, sa.ForeignKey("match_judgements.id")),
    sa.Column("linked_at", TS, nullable=False),
    sa.Index("ix_record_links_entity_id_kind_natural_key", "entity_id", "kind", "natural_key"),
)

# Rows an import with --match could not link with confidence, held for a person (the match review queue). The row's
# parsed record waits here and is stored when a person judges it the same as an entity. ``source_key`` is the
# normalised name (core and form) and region, or the code: rows with one key are one question, asked once. A review
# is never changed: it is closed by a judgement (match_judgements) or a link (record_links). Append-only.
match_reviews = sa.Table(
    "match_reviews",
    metadata,
    _id(),
    sa.Column("source_key", sa.String(255), nullable=False, index=True),
    sa.Column("source", JSON, nullable=False),  # what the row said of the entity
    sa.Column("region", sa.String(6)),  # the row's region, or the candidates' city (who may judge it)
    sa.Column("record", JSON, nullable=False),  # the parsed record held: kind, date, natural_key, data, present
    sa.Column("candidates", JSON, nullable=False),  # scored, best first, with reasons (as supervise match shows)
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

# A person's judgement of a source key against one entity: ``same`` (the rows of that key are this entity) or
# ``not_same`` (never linked to it automatically afterwards). Append-only.
match_judgements = sa.Table(
    "match_judgements",
    metadata,
    _id(),
    sa.Column("source_key", sa.String(255), nullable=False, index=True),
    sa.Column("verdict", sa.String(8), nullable=False),  # same | not_same
    sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("review_id", sa.Integer, sa.ForeignKey("match_reviews.id")),
    sa.Column("note", sa.Text),
    sa.Column("judged_by", sa.String(128), nullable=False),
    sa.Column("judged_at", TS, nullable=False),
)
