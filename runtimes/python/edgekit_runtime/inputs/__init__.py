"""What the model is fed: the input schema, the monitor counting inputs training never showed, and
telemetry histograms on the training bins."""
