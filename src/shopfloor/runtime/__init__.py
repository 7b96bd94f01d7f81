"""Deployments, alerts and write-back (configuration so far)."""
