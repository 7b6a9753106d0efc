"""The static mirror: signed metadata and archives as files laid out like the device URLs (writer.py),
kept in step with the database (sync.py), served by nginx (nginx.py renders its configuration)."""
