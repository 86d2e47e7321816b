"""`up -v`'s line after a cycle: each step's seconds in order, a smoke run's tests beside it, the rest last."""

from __future__ import annotations

from devstack.engine.execute import breakdown


def test_steps_in_order_smoke_tests_in_brackets_and_the_loops_own_time() -> None:
    steps = (("build", 0.5), ("deliver", 0.25), ("rollout", 1.5), ("smoke", 0.5), ("smoke:relay-health", 0.125),
             ("smoke:inject", 0.375))
    assert breakdown(steps, 3.0) == ("breakdown 3.00s: build 0.50s · deliver 0.25s · rollout 1.50s · smoke 0.50s "
                                     "(relay-health 0.12s, inject 0.38s) · between steps 0.25s")


def test_a_live_update_alone() -> None:
    assert breakdown((("sync relay", 0.2), ("smoke", 0.1), ("smoke:health", 0.1)), 0.31) == (
        "breakdown 0.31s: sync relay 0.20s · smoke 0.10s (health 0.10s) · between steps 0.01s")
