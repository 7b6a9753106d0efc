"""Continuous training: ``edgekit pipeline run|watch pipeline.yaml`` (config, run, watch)."""
