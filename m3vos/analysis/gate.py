"""Quality gates: `--fail-under METRIC=VALUE` and `--fail-over METRIC=VALUE` on global numbers.

Shared by `m3vos score` and the leaderboard: parse once, check against any `{metric: value}`
dict, report each failure as one line. Values are fractions like the results (`J&F-Mean=0.7`);
a trailing `%` means percent (`J&F-Mean=70%` is 0.70). A bare value outside the metric's range
(`J-Mean=70`) is refused: it would be a gate that can never pass.

Directions come from the results contract: `--fail-under` is for higher-is-better metrics (J-Mean
must stay above), `--fail-over` for lower-is-better ones (J-Decay must stay below); the wrong
spelling is refused with the right one in the hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from m3vos.errors import BadInputError
from m3vos.metrics.contract import metric_spec

UNDER, OVER = "under", "over"


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float     # a fraction, like the numbers in results.json
    kind: str = UNDER   # UNDER: fail when the value is below; OVER: fail when above

    @property
    def minimum(self) -> float:      # the name earlier callers used
        return self.limit

    def __str__(self) -> str:
        return f"{self.metric}{'>=' if self.kind == UNDER else '<='}{self.limit:g}"


def parse_thresholds(specs: Iterable[str] | None, kind: str = UNDER) -> list[Threshold]:
    """`["J&F-Mean=0.7", "J_cc-Mean=55%"]` -> thresholds; a malformed spec is a `BadInputError`."""
    flag = f"--fail-{kind}"
    example = "J-Mean=0.7 or J-Mean=70%" if kind == UNDER else "J-Decay=0.1 or J-Decay=10%"
    out: list[Threshold] = []
    for spec in specs or []:
        metric, sep, value = spec.partition("=")
        metric, value = metric.strip(), value.strip()
        if not sep or not metric or not value:
            raise BadInputError(f"bad {flag} {spec!r}", hint=f"write METRIC=VALUE, e.g. {example}")
        percent = value.endswith("%")
        try:
            number = float(value[:-1] if percent else value)
        except ValueError:
            raise BadInputError(f"bad {flag} value in {spec!r}: {value!r} is not a number",
                                hint=f"write METRIC=VALUE, e.g. {example}") from None
        if not math.isfinite(number):
            raise BadInputError(f"bad {flag} value in {spec!r}", hint="use a finite number")
        mspec = metric_spec(metric)
        if mspec is None:
            raise BadInputError(f"{flag} names {metric!r}, which is not a metric",
                                hint="use an official CSV name such as J-Mean, J_cc-Mean, F-Decay, J&F-Mean")
        if kind == UNDER and not mspec.higher_is_better:
            raise BadInputError(f"{metric} is lower-is-better, so {flag} {spec!r} would pass the worse runs",
                                hint=f"use --fail-over {metric}={value} (fails when {metric} is above it)")
        if kind == OVER and mspec.higher_is_better:
            raise BadInputError(f"{metric} is higher-is-better, so {flag} {spec!r} would fail the better runs",
                                hint=f"use --fail-under {metric}={value} (fails when {metric} is below it)")
        limit = number / 100 if percent else number
        if not (mspec.low <= limit <= mspec.high):
            hint = (f"results are fractions: write {metric}={number:g}% or {metric}={number / 100:g}"
                    if not percent and 1 < abs(number) <= 100 else f"{metric} lies in [{mspec.low:g}, {mspec.high:g}]")
            raise BadInputError(f"{flag} {spec!r} is outside the range of {metric}, so the gate could never pass",
                                hint=hint)
        out.append(Threshold(metric, limit, kind))
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
            raise BadInputError(f"--fail-{th.kind} names {th.metric!r}, which these results do not have",
                                hint=f"use one of: {known}")
        value = global_metrics[th.metric]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            failures.append(f"{th.metric} is undefined (needs {'>=' if th.kind == UNDER else '<='} {th.limit:g})")
        elif th.kind == UNDER and value < th.limit:
            failures.append(f"{th.metric} = {value:.4f} is below {th.limit:g}")
        elif th.kind == OVER and value > th.limit:
            failures.append(f"{th.metric} = {value:.4f} is above {th.limit:g}")
    return failures
