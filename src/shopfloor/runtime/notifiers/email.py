"""Email notifier: one message per notification through an SMTP server, over aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import default
from typing import TYPE_CHECKING

import aiosmtplib

from shopfloor.errors import NotificationRefused, NotifierError
from shopfloor.runtime.notifiers.base import Notification

if TYPE_CHECKING:
    from shopfloor.runtime.notifiers.config import EmailNotifierConfig

__all__ = ["EmailNotifier", "message_of"]

_WIRE = default.clone(linesep="\r\n", max_line_length=998)
"""How a message is written to the server: headers fold only beyond RFC 5322's hard limit,
because a subject folded before its first word (a long asset path) reads back with a
leading space in some clients (Python's own parser among them)."""


def message_of(notification: Notification, sender: str, to: list[str]) -> EmailMessage:
    """The email: the subject says what and where, the body has every field."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    lines = [notification.message, ""]
    lines += [f"{key}: {value}" for key, value in notification.as_dict().items() if key != "at_ns"]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailNotifier:
    """Sends each notification to ``config.to``."""

    def __init__(self, config: EmailNotifierConfig) -> None:
        self.name = config.name
        self.target = f"smtp://{config.host}:{config.port} to {', '.join(config.to)}"
        self._config = config

    async def send(self, notification: Notification) -> None:
        """Send once."""
        c = self._config
        try:
            await aiosmtplib.send(
                message_of(notification, c.sender, c.to).as_bytes(policy=_WIRE),
                sender=c.sender,
                recipients=c.to,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password.get_secret_value() if c.password is not None else None,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPAuthenticationError as err:
            raise NotificationRefused(
                f"email {self.name!r}: {c.host}:{c.port} refused the credentials: {err}"
            ) from err
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise NotificationRefused(
                f"email {self.name!r}: {c.host}:{c.port} refused the recipients: {err}"
            ) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            raise NotifierError(
                f"email {self.name!r}: sending via {self.target} failed: {err!r}"
            ) from err

    async def close(self) -> None:
        """Nothing held between messages."""
