"""The three ways a device serves predictions: batch files, JSON lines on stdin, local REST."""
