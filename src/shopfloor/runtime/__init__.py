"""Deployments, alerts (with their notifiers) and write-back to machines."""
