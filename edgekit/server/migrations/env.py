"""Alembic's environment for the server's schema: migrate.py hands in an open connection (no
alembic.ini, no URL of its own), so a migration runs in the caller's transaction and lock."""

from alembic import context

from edgekit.server.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
