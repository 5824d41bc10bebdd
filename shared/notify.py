"""Notifications: placeholder until the notification targets land (see issue "Notifications")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.model import LinkState, Outcome, Phase


class Notifier:
    """Plans notices inside the leased row write, then delivers them after it (see reconciler)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls()

    def plan(self, state: LinkState, previous: Phase | None, outcome: Outcome) -> None:
        return None

    def deliver(self, state: LinkState) -> bool:
        return False
