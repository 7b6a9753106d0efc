"""``agent run``: update cycles forever, spaced by the poll interval with jitter, backing off
exponentially (with jitter) while the server is unreachable. While a new model is on probation
the agent wakes every few seconds, so an unhealthy report from the application is acted on at once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .config import AgentConfig
from .update import Agent, CycleResult


def next_wait(config: AgentConfig, failures: int, rng: random.Random) -> float:
    base = config.poll_seconds if failures == 0 else min(config.backoff_max_seconds, config.poll_seconds * 2 ** min(failures, 20))
    return base * (1 + rng.uniform(-config.jitter, config.jitter))


PROBATION_CHECK_SECONDS = 5.0


def run_forever(agent: Agent, on_cycle: Callable[[CycleResult], None], sleep: Callable[[float], None] = time.sleep,
                cycles: int | None = None, seed: int | None = None) -> None:
    rng = random.Random(seed)
    failures = 0
    done = 0
    while cycles is None or done < cycles:
        try:
            result = agent.once()
        except Exception as exc:  # noqa: BLE001 - the last guard: the agent must outlive any one cycle
            result = CycleResult("failed", None, f"the cycle broke: {exc.__class__.__name__}: {exc}")
        on_cycle(result)
        failures = failures + 1 if result.outcome == "offline" else 0
        done += 1
        if cycles is None or done < cycles:
            wait(agent, next_wait(agent.config, failures, rng), on_cycle, sleep)


def wait(agent: Agent, seconds: float, on_cycle: Callable[[CycleResult], None], sleep: Callable[[float], None]) -> None:
    """Sleep ``seconds``, in short steps while a model is on probation, switching back (and
    reporting it) as soon as the application says the new model is unhealthy."""
    remaining = seconds
    while remaining > 0:
        step = min(remaining, PROBATION_CHECK_SECONDS) if agent.on_probation() else remaining
        sleep(step)
        remaining -= step
        result = agent.check_probation() if agent.on_probation() else None
        if result is not None:
            agent.report(result)
            on_cycle(result)
