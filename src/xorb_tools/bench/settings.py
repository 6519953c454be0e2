"""What ``inv bench`` measures and how much (quick or full), and the raw samples a run collects."""

from __future__ import annotations

from dataclasses import dataclass, field

from xorb_tools.core.errors import XorbError


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    quick: bool = False
    rounds: int = 2
    repeats: int = 2
    # Full mode times bake against our sequential build twice per round, the second time
    # in the opposite order (ABBA), so drift in the host's speed cancels out of the ratio.
    reversed_pairs: bool = False
    growth_builds: int = 10
    startup_runs: int = 3
    ca_cert: str | None = None

    @classmethod
    def for_mode(cls, quick: bool, runs: int | None, ca_cert: str | None) -> Settings:
        """Quick: one of everything, 3 growth builds; full: 2 cold rounds (or ``runs``)
        with 2 cheap repetitions each, 10 growth builds, 3 starts per service."""
        if runs is not None and runs < 0:
            raise XorbError("--runs must be a positive number of cold rounds.")
        if quick:
            return cls(True, runs or 1, 1, False, 3, 1, ca_cert)
        return cls(False, runs or 2, 2, True, 10, 3, ca_cert)


@dataclass
class Samples:
    """Raw measurements, keyed by figure; filled by :class:`Bench`."""

    times: dict[str, list[float]] = field(default_factory=dict)
    changed: dict[str, list[list[str]]] = field(default_factory=dict)
    growth_mb: list[float] = field(default_factory=list)
    sizes: dict[str, dict[str, float]] = field(default_factory=dict)
    startup: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    retries: list[str] = field(default_factory=list)

    def add(self, key: str, seconds: float) -> None:
        self.times.setdefault(key, []).append(seconds)
