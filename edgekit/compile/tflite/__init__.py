"""The TFLite backend: targets tflite and tflite-int8, written without TensorFlow, run by LiteRT."""
