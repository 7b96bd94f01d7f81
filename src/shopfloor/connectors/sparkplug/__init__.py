"""Sparkplug B host application: edge nodes' births, data and deaths over MQTT."""
