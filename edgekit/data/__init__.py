"""Data loading, schema inference, baselines and splitting."""
