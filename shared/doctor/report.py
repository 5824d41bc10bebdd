"""What the doctor answers: checks, each with a verdict, the evidence it read and the fix.

`Report.public()` is the `--json` / `GET /api/doctor` body (README "hublink doctor" documents it):

    {"ok": false, "summary": {"checks": 12, "passed": 11, "failed": 1},
     "checks": [{"scope": "spoke", "subject": "<subscription id>", "name": "permissions",
                 "ok": false, "evidence": "...", "fix": "..."}, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    scope: str  # hub | spoke | cluster
    subject: str  # what was checked: a subscription id, a zone, a subnet or a cluster id
    name: str  # token | permissions | event-grid | zone | subnet | cluster
    ok: bool
    evidence: str
    fix: str = ""

    def public(self) -> dict[str, Any]:
        return {"scope": self.scope, "subject": self.subject, "name": self.name, "ok": self.ok,
                "evidence": self.evidence, "fix": self.fix}  # fmt: skip


def passed(scope: str, subject: str, name: str, evidence: str) -> Check:
    return Check(scope, subject, name, True, evidence)


def failed(scope: str, subject: str, name: str, evidence: str, fix: str) -> Check:
    return Check(scope, subject, name, False, evidence, fix)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def public(self) -> dict[str, Any]:
        bad = len(self.failures())
        return {
            "ok": self.ok,
            "summary": {"checks": len(self.checks), "passed": len(self.checks) - bad, "failed": bad},
            "checks": [c.public() for c in self.checks],
        }

    def text(self) -> str:
        """One line per check, its fix under it when it failed, and the verdict last."""
        lines = []
        for c in self.checks:
            lines.append(f"{'ok  ' if c.ok else 'FAIL'} {c.scope:<7} {c.name:<11} {c.subject}: {c.evidence}")
            if not c.ok and c.fix:
                lines.append(f"     fix: {c.fix}")
        bad = len(self.failures())
        lines.append(f"\n{len(self.checks)} check(s), {bad} failed" if bad else f"\nall {len(self.checks)} check(s) hold")
        return "\n".join(lines)
