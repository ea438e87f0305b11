"""Scoring: per-frame J, F and J_cc, per-object statistics, both protocols, the engine.

`score_predictions(preds, dataset, protocol=...)` returns a `ScoreResult` whose `to_dict()` is
the `results.json` document (schema `m3vos-results/1`, owned by `m3vos.metrics.contract`, which
also reads and validates it).
"""

from __future__ import annotations

from m3vos.metrics.engine import score_predictions
from m3vos.metrics.protocols import PROTOCOLS, ScoreOptions, metric_names
from m3vos.metrics.results import SCHEMA, ScoreResult, retire_results, write_results

__all__ = ["score_predictions", "ScoreResult", "ScoreOptions", "PROTOCOLS", "SCHEMA", "metric_names",
           "retire_results", "write_results"]
