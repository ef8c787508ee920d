from engine.store import schema


def test_init_is_idempotent_and_matches_metadata(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    again = store.init()
    assert again["changed"] is False and again["to"] == "0008"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)
    assert diff == []
