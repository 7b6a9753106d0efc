"""Watching the fleet: telemetry totals, drift statistics, rollout health gates, the monitor pass
that judges them, and the webhook that reports new alerts."""
