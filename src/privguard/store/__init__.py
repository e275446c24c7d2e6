"""Persistence: engine, transactions, table metadata and Alembic migrations."""
