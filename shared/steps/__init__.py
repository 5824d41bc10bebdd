"""The steps of a link, in order. Each reads actual state and either lets the next one run
(returns None) or ends the pass with a Result (shared.results); each is a no-op when already true.

    await_operation   an operation of ours on the hub endpoint runs: read only it, at Azure's pace
    observe_cluster   the cluster: gone or skipped (-> cleanup), busy, stopped, its access path
    choose_hub        the hub of its region and where the DNS record goes (the path's placement)
    prepare_target    what the path needs on the cluster side (nothing for private link)
    ensure_endpoint   our hub endpoint: created (in a hub subnet with room, at the link's stable
                      address: shared.steps.subnet), settled at Azure's pace, replaced when dead
    approve_connection  our connection approved on the target (auto, or a person in manual mode)
    write_dns         the name kubectl uses -> the endpoint's private IP (every DNS mode; `none`
                      gets a hub zone of its own); a changed address is announced
    ready             Ready, checked again for drift after HUBLINK_DRIFT_INTERVAL_S
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.steps.cleanup import cleanup
from shared.steps.cluster import choose_hub, observe_cluster, prepare_target
from shared.steps.connection import approve_connection
from shared.steps.endpoint import ensure_endpoint
from shared.steps.operation import await_operation
from shared.steps.record import ready, write_dns

if TYPE_CHECKING:
    from shared.link import Link
    from shared.results import Result

Step = Callable[["Link"], "Result | None"]
PIPELINE: tuple[Step, ...] = (
    await_operation,
    observe_cluster,
    choose_hub,
    prepare_target,
    ensure_endpoint,
    approve_connection,
    write_dns,
    ready,
)

__all__ = ["PIPELINE", "Step", "cleanup", "run_pass"]


def run_pass(link: Link, steps: tuple[Step, ...] = PIPELINE) -> Result:
    """Run the steps in order until one answers."""
    for step in steps:
        result = step(link)
        if result is not None:
            return result
    raise AssertionError("the last step always answers")
