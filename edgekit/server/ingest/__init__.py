"""Device reports at fleet scale: validated at the door by routes/devices.py, then written in
batches (one transaction per batch, the answer sent once it commits) as rollups (sums per ``rollup_seconds`` bucket)."""
