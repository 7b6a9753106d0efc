"""The OTA agent: keeps the right model installed on the device (edgekit-runtime agent ...)."""
