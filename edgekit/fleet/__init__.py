"""The update server: a TUF repository of model releases, staged rollouts, device enrollment,
status and telemetry, served by FastAPI (``create_app``) from SQLite or PostgreSQL."""
