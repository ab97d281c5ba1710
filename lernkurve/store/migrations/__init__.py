"""Schema migrations (Alembic): every database is brought to the head revision on open."""
