"""What the server tells its operator: the event log of what it decided (events.py) and how every
log line is formatted, text or one JSON object per line, in every worker (setup.py)."""
