"""The one retry policy: capped exponential backoff with proportional jitter.

Every loop that waits for something to come back (a connector reconnecting to its
source, the store sink writing to a store that failed) uses :class:`RetryPolicy`, so the
delays, their cap and their jitter mean the same everywhere and are set in the project
file. The looping itself is `tenacity <https://tenacity.readthedocs.io>`_'s
:class:`~tenacity.AsyncRetrying`; this module only names the policy and builds it.

The delay before retry ``n`` (1-based) is::

    min(initial_s * multiplier ** (n - 1), max_s) * (1 + jitter * u),  u ~ U(-1, 1)

Examples
--------
>>> policy = RetryPolicy(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
>>> [policy.delay_s(n) for n in range(1, 6)]
[0.5, 1.0, 2.0, 4.0, 4.0]
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# tenacity is imported where a loop is built: the policy is also a part of the project
# file, which commands such as ``shopfloor status`` load without retrying anything.
if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState
    from tenacity.retry import retry_base

__all__ = ["RetryPolicy", "Wait"]


class Wait:
    """The policy's delays as a tenacity wait strategy (a callable of the retry state).

    Parameters
    ----------
    policy
        Initial delay, cap, multiplier and jitter.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        from tenacity import wait_exponential

        self.policy = policy
        self._exponential = wait_exponential(
            multiplier=policy.initial_s, max=policy.max_s, exp_base=policy.multiplier
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        """Delay before the next attempt, jittered by a fraction of itself."""
        base = min(float(self._exponential(retry_state)), self.policy.max_s)
        return base * (1.0 + self.policy.jitter * random.uniform(-1.0, 1.0))


class RetryPolicy(BaseModel):
    """Capped exponential backoff with jitter.

    Parameters
    ----------
    initial_s
        Delay before the first retry, in seconds.
    max_s
        Cap on the delay (before jitter).
    multiplier
        Factor between one delay and the next (1 for a constant delay).
    jitter
        Fraction of the delay added or removed at random, so many clients that failed
        together do not retry together.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(
        default=4.0, gt=0, description="Cap, so a source that is back is seen within seconds."
    )
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Fraction of the delay.")

    @model_validator(mode="after")
    def _check(self) -> RetryPolicy:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) is smaller than initial_s ({self.initial_s})")
        return self

    def wait(self) -> Wait:
        """The policy as a tenacity wait strategy."""
        return Wait(self)

    def delay_s(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (1-based), without jitter.

        Parameters
        ----------
        attempt
            Which retry; 1 is the first.
        """
        if attempt < 1:
            raise ValueError(f"attempt must be 1 or more, got {attempt}")
        return float(min(self.initial_s * self.multiplier ** (attempt - 1), self.max_s))

    def retrying(
        self,
        retry: retry_base,
        *,
        before_sleep: Callable[[RetryCallState], Awaitable[None] | None] | None = None,
        wait: Callable[[RetryCallState], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        attempts: int | None = None,
    ) -> AsyncRetrying:
        """An asyncio retry loop with this policy's delays (forever, or ``attempts`` times).

        Parameters
        ----------
        retry
            Which outcomes to retry (for example ``retry_if_exception_type(OSError)``);
            any other exception is raised as is.
        before_sleep
            Called after a failed attempt, before the wait (log and count there).
        wait
            Replaces the policy's wait strategy (for example to wait longer after some
            errors); defaults to :meth:`wait`.
        sleep
            The sleep function (tests may replace it).
        attempts
            Give up after this many attempts (the last error is raised); ``None``: never.

        Examples
        --------
        >>> import asyncio
        >>> from tenacity import retry_if_exception_type
        >>> calls = []
        >>> async def flaky() -> str:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise OSError("refused")
        ...     return "ok"
        >>> async def main() -> str:
        ...     policy = RetryPolicy(initial_s=0.001, max_s=0.002)
        ...     async for attempt in policy.retrying(retry_if_exception_type(OSError)):
        ...         with attempt:
        ...             return await flaky()
        ...     raise AssertionError("unreachable")
        >>> asyncio.run(main()), len(calls)
        ('ok', 3)
        """
        from tenacity import AsyncRetrying, stop_after_attempt

        options: dict[str, Any] = {}
        if sleep is not None:
            options["sleep"] = sleep
        if attempts is not None:
            options["stop"] = stop_after_attempt(attempts)
        return AsyncRetrying(
            wait=wait if wait is not None else self.wait(),
            retry=retry,
            before_sleep=before_sleep,
            reraise=True,
            **options,
        )
