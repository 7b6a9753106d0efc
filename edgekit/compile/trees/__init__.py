"""The tree intermediate form every backend reads (tables, read through Treelite) and its passes:
padding to complete trees, threshold binning and leaf quantization, float32 split thresholds."""
