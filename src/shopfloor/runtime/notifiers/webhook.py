"""Webhook notifier: an HTTP POST of the alert as JSON, HMAC-signed, over httpx.

A 2xx answer delivers it. A 408, 425, 429 or 5xx answer, a timeout or a refused
connection may pass later (``NotifierError``, retried); any other 4xx will not
(``NotificationRefused``): the receiver does not want this request as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

import httpx

from shopfloor.errors import NotificationRefused, NotifierError
from shopfloor.runtime.notifiers.base import Notification

if TYPE_CHECKING:
    from shopfloor.runtime.notifiers.config import WebhookNotifierConfig

__all__ = ["WebhookNotifier", "signature"]

RETRY_STATUS = frozenset({408, 425, 429})
SIGNATURE_HEADER = "X-Shopfloor-Signature"
TIMESTAMP_HEADER = "X-Shopfloor-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of ``<timestamp>.<body>`` (what a receiver recomputes).

    Examples
    --------
    >>> signature(b"k", "1700000000", b"{}")[:15]
    'sha256=2b0a4a8b'
    """
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    """POSTs each notification to ``config.url``."""

    def __init__(self, config: WebhookNotifierConfig) -> None:
        self.name = config.name
        self.target = config.url
        self._config = config
        self._client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    async def send(self, notification: Notification) -> None:
        """POST once."""
        body = notification.to_json()
        headers = {"Content-Type": "application/json", **self._config.headers}
        if self._config.secret is not None:
            stamp = str(int(time.time()))
            secret = self._config.secret.get_secret_value().encode()
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(secret, stamp, body)
        try:
            answer = await self._client.post(self._config.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise NotifierError(
                f"webhook {self.name!r}: POST {self.target} failed: {err!r}"
            ) from err
        if answer.is_success:
            return
        reason = f"webhook {self.name!r}: {self.target} answered {answer.status_code}"
        if answer.status_code in RETRY_STATUS or answer.status_code >= 500:
            raise NotifierError(reason)
        raise NotificationRefused(f"{reason}; not retried")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
