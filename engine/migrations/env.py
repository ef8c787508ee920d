"""Alembic environment: uses the engine the Store hands over (or the URL in the config)."""

import sqlalchemy as sa
from alembic import context

from engine.store.schema import metadata

config = context.config


def run() -> None:
    engine = config.attributes.get("engine") or sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(
            connection=conn, target_metadata=metadata, render_as_batch=conn.dialect.name == "sqlite", compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()


run()
