"""Quality gates: `--fail-under METRIC=VALUE` thresholds on a results document's global numbers.

Shared by `m3vos score` and the leaderboard: parse once, check against any `global` dict, and
report each failure as one line. Values are fractions like the results (`J&F-Mean=0.7`); a
trailing `%` means percent (`J&F-Mean=70%`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from m3vos.errors import BadInputError


@dataclass(frozen=True)
class Threshold:
    metric: str
    minimum: float   # a fraction, like the numbers in results.json

    def __str__(self) -> str:
        return f"{self.metric}>={self.minimum:g}"


def parse_thresholds(specs: Iterable[str] | None) -> list[Threshold]:
    """`["J&F-Mean=0.7", "J_cc-Mean=55%"]` -> thresholds; a malformed spec is a `BadInputError`."""
    out: list[Threshold] = []
    for spec in specs or []:
        metric, sep, value = spec.partition("=")
        metric, value = metric.strip(), value.strip()
        if not sep or not metric or not value:
            raise BadInputError(f"bad --fail-under {spec!r}", hint="write METRIC=VALUE, e.g. J&F-Mean=0.7 or J-Mean=65%")
        percent = value.endswith("%")
        try:
            number = float(value[:-1] if percent else value)
        except ValueError:
            raise BadInputError(f"bad --fail-under value in {spec!r}: {value!r} is not a number",
                                hint="write METRIC=VALUE, e.g. J&F-Mean=0.7 or J-Mean=65%") from None
        if math.isnan(number):
            raise BadInputError(f"bad --fail-under value in {spec!r}", hint="use a finite number")
        out.append(Threshold(metric, number / 100 if percent else number))
    return out


def check_thresholds(global_metrics: Mapping[str, float | None], thresholds: Iterable[Threshold]) -> list[str]:
    """One line per threshold that is not met (empty list: all met).

    A metric the results do not have is a `BadInputError` (a gate that can never pass is a
    mistake, not a failed run); a missing value (NaN/None) fails the gate.
    """
    failures: list[str] = []
    for th in thresholds:
        if th.metric not in global_metrics:
            known = ", ".join(sorted(global_metrics))
            raise BadInputError(f"--fail-under names {th.metric!r}, which these results do not have",
                                hint=f"use one of: {known}")
        value = global_metrics[th.metric]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            failures.append(f"{th.metric} is undefined (needs >= {th.minimum:g})")
        elif value < th.minimum:
            failures.append(f"{th.metric} = {value:.4f} is below {th.minimum:g}")
    return failures
