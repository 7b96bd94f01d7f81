"""MQTT connector: JSON, binary waveform blocks and images from topics; broker connections."""
