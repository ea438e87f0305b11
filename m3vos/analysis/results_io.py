"""Reading results folders: the contract lives in `m3vos.metrics.contract`; this module keeps the
names the analysis code has always imported."""

from __future__ import annotations

from m3vos.metrics.contract import (ENTRY_FIELDS, RESULTS_NAME, SCHEMA, ResultsFolder, check_comparable,
                                    load_many, load_results, metric_names, provenance)

__all__ = ["ENTRY_FIELDS", "RESULTS_NAME", "SCHEMA", "ResultsFolder", "check_comparable", "load_many",
           "load_results", "metric_names", "provenance"]
