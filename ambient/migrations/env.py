"""Alembic environment: ambient always passes an open connection in config.attributes.

Applying migrations needs no table models (each revision says what it changes), so this file
imports none: the database layer below every package runs it at start-up. A caller that
autogenerates a revision passes the models' metadata as ``config.attributes["target_metadata"]``
(``import ambient.tables`` registers every table on ``SQLModel.metadata``).
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
