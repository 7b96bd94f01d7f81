"""Deployments (:mod:`.deployments`), alert rules (:mod:`.alerts`), notifiers and write-back."""
