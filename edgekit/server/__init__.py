"""The update server: ``create_app`` (FastAPI) over SQLite or PostgreSQL, its settings, database,
auth, limits and metrics; what it signs (repository/), watches (monitoring/), serves as HTTP API
(routes/) and shows operators (dashboard/)."""
