"""Modbus TCP connector."""
