"""Models trained elsewhere, read into what a bundle stores: XGBoost, LightGBM and scikit-learn
files or fitted objects, checked against what edgekit compiles exactly, and the sample of data that
gives the bundle its schema, reference rows, baseline and metrics."""
