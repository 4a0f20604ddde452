"""Where the center keeps its data: the database engine and sessions, the ORM tables and
their Alembic migrations."""
