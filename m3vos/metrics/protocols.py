"""The two scoring protocols and the options that change what is computed.

Both protocols score the same frames (every annotated frame but the first and the last) and the
same objects (ids 1..N, N = max id of the first annotated frame, 255 excluded), and share the
per-frame J and F. They differ in the statistics they report and in what they call an error:

- `m3vos` (default): the official M3-VOS evaluator: J, J_last (last quarter of the scored
  frames), J_cc (Hungarian, or greedy with `jcc="greedy"`), plus F and J&F as a clearly named
  m3vos extension (`EXTENSION_METRICS`).
- `davis`: davis2017-evaluation: J and F Mean / Recall / Decay and J&F-Mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from m3vos.errors import BadInputError

PROTOCOLS = ("m3vos", "davis")
JCC_MODES = ("hungarian", "greedy")
MISSING_MODES = ("error", "empty")

#: Official column order of each protocol's CSVs (global and per object).
OFFICIAL_METRICS = {
    "m3vos": ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay",
              "J_cc-Mean"],
    "davis": ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"],
}
#: Metrics m3vos adds to a protocol that its official evaluator does not compute.
EXTENSION_METRICS = {
    "m3vos": ["F-Mean", "F-Recall", "F-Decay", "J&F-Mean"],
    "davis": [],
}


def metric_names(protocol: str) -> list[str]:
    return OFFICIAL_METRICS[protocol] + EXTENSION_METRICS[protocol]


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that changes a score; recorded in `results.json` under `options`."""

    protocol: str = "m3vos"
    jcc: str = "hungarian"          # m3vos protocol: "hungarian" (official) or "greedy" (--origin_Jcc)
    void_aware: bool = False        # exclude GT void (255) pixels from J, F and J_cc
    compat_decay: bool = False      # reproduce the official uint8 wrap of the Decay bins
    missing: str = "error"          # "error" or "empty": score a missing video/frame as empty
    strict: bool = False            # prediction ids outside 1..N are an error, not background

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise BadInputError(f"unknown protocol {self.protocol!r}",
                                hint=f"use one of {', '.join(PROTOCOLS)}")
        if self.jcc not in JCC_MODES:
            raise BadInputError(f"unknown J_cc variant {self.jcc!r}", hint=f"use one of {', '.join(JCC_MODES)}")
        if self.missing not in MISSING_MODES:
            raise BadInputError(f"unknown --missing mode {self.missing!r}",
                                hint=f"use one of {', '.join(MISSING_MODES)}")

    @property
    def wants_jcc(self) -> bool:
        return self.protocol == "m3vos"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.wants_jcc:
            d.pop("jcc")
        return d
