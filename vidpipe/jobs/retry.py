"""What happens after a job fails: a decision as a value, never an exception path."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from vidpipe.errors import is_retryable, spends_attempt
from vidpipe.states import JobStatus


@dataclass(frozen=True)
class RetryDecision:
    """`retry_in` set: try again later; otherwise the job ends as `final_status`."""

    final_status: JobStatus | None  # FAILED (permanent) | DEAD (retries exhausted) | None (retrying)
    retry_in: timedelta | None = None
    spend_attempt: bool = True  # False: an infrastructure outage, the attempt is given back


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def decide(exc: BaseException, attempts: int, max_attempts: int, *, base: float, cap: float,
           rng: random.Random | None = None, deferrals: int = 0) -> RetryDecision:
    """Bad input fails at once; an infrastructure outage waits it out (backoff grows with `deferrals`, no
    attempt spent); anything else retryable is retried until `max_attempts`, then the job is dead."""
    if not is_retryable(exc):
        return RetryDecision(JobStatus.FAILED)
    if not spends_attempt(exc):
        return RetryDecision(None, backoff(deferrals + 1, base, cap, rng), spend_attempt=False)
    if attempts >= max_attempts:
        return RetryDecision(JobStatus.DEAD)
    return RetryDecision(None, backoff(attempts, base, cap, rng))
