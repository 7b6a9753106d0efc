"""``agent run``: update cycles forever, spaced by the poll interval with jitter, backing off
exponentially (with jitter) while the server is unreachable."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .config import AgentConfig
from .update import Agent, CycleResult


def next_wait(config: AgentConfig, failures: int, rng: random.Random) -> float:
    base = config.poll_seconds if failures == 0 else min(config.backoff_max_seconds, config.poll_seconds * 2 ** min(failures, 20))
    return base * (1 + rng.uniform(-config.jitter, config.jitter))


def run_forever(agent: Agent, on_cycle: Callable[[CycleResult], None], sleep: Callable[[float], None] = time.sleep,
                cycles: int | None = None, seed: int | None = None) -> None:
    rng = random.Random(seed)
    failures = 0
    done = 0
    while cycles is None or done < cycles:
        result = agent.once()
        on_cycle(result)
        failures = failures + 1 if result.outcome == "offline" else 0
        done += 1
        if cycles is None or done < cycles:
            sleep(next_wait(agent.config, failures, rng))
