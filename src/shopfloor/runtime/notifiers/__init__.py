"""Notifiers: where alerts are sent (webhook, MQTT, email), and the dispatcher that sends.

A new notifier type is a module with a class that follows :class:`Notifier`, a config
model in :mod:`~shopfloor.runtime.notifiers.config` (a new ``type``), and a line in
:func:`~shopfloor.runtime.notifiers.dispatcher.build_notifier`.
"""

from shopfloor.runtime.notifiers.base import Notification, Notifier
from shopfloor.runtime.notifiers.config import NotifierConfig
from shopfloor.runtime.notifiers.dispatcher import NotificationDispatcher, build_notifier

__all__ = ["Notification", "NotificationDispatcher", "Notifier", "NotifierConfig", "build_notifier"]
