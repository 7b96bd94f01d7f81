"""Deployments (:mod:`.deployments`), alert rules (:mod:`.alerts`) and notifiers."""
