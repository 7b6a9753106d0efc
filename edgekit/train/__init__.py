"""Model families, tuning, metrics and fitting."""
