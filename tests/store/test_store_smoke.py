import pytest

from engine.store import schema


# SQLite's reflection cannot read the expression index of migration 0009 (substr(code, 9, 9)), so alembic skips
# comparing it there (PostgreSQL compares it).
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_init_is_idempotent_and_matches_metadata(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    again = store.init()
    assert again["changed"] is False and again["to"] == "0009"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)
    assert diff == []
