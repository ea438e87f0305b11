"""The M3-VOS phase and phase-transition taxonomy, as facts in code.

Sources: the annotation tool's `phase:` tree (the six leaf phases), and the official plotting
script that drew the paper's per-transition figure (the 23 transitions in 4 groups). Grouping is
by the transition label only, as in the official analysis; the before/after states are not used
to decide a group because the labels and states sometimes disagree.
"""

from __future__ import annotations

import re

#: The six leaf phases (colon-separated paths, coarse to fine).
PHASE_LEAVES: tuple[str, ...] = (
    "solid:particulate",
    "solid:non_particulate:rigid body",
    "solid:non_particulate:flexible body",
    "liquid:viscous",
    "liquid:non viscous",
    "aerosol/gas",
)

#: Every node of the phase tree (coarse paths such as `solid` occur in the labels).
PHASE_NODES: tuple[str, ...] = (
    "solid", "solid:particulate", "solid:non_particulate",
    "solid:non_particulate:rigid body", "solid:non_particulate:flexible body",
    "liquid", "liquid:viscous", "liquid:non viscous",
    "aerosol/gas",
)

#: Group abbreviations and the names the official figure uses.
GROUPS: dict[str, str] = {
    "IS": "Intra-Phase (solid)",
    "IL": "Intra-Phase (Liquid)",
    "IG": "Intra-Phase (Aerosol//Gas)",
    "CP": "Cross-Phase",
}

#: The 23 transitions of the paper's figure, per group, in the official order.
GROUP_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "IS": ("separate", "twist", "break", "stretch", "split", "merge", "crush"),
    "IL": ("flow", "paint", "splash", "mix", "drip"),
    "IG": ("diffusion",),
    "CP": ("solidify", "melt", "deposition", "vaporize", "crystallize", "sublimate", "dissolve",
           "compress", "flow out", "soften"),
}

TRANSITIONS: tuple[str, ...] = tuple(t for ts in GROUP_TRANSITIONS.values() for t in ts)
TRANSITION_GROUP: dict[str, str] = {t: g for g, ts in GROUP_TRANSITIONS.items() for t in ts}

#: Labels that occur in all_phase_label.json but belong to no group: the official grouped
#: analysis drops them, and so does m3vos by default (`seperate` is a typo of `separate`,
#: `separate_out` means precipitation).
UNGROUPED_LABELS: dict[str, str] = {
    "seperate": "typo of `separate`; outside the 23, dropped from group means as officially",
    "separate_out": "precipitation; outside the 23, dropped from group means as officially",
}

#: Known misspellings of phase paths, mapped to the tree's spelling.
_PHASE_FIXES = {
    "solid:non particulate": "solid:non_particulate",
    "non-viscous": "non viscous",
    "non_viscous": "non viscous",
    "aerosol / gas": "aerosol/gas",
    "gas": "aerosol/gas",
    "aerosol": "aerosol/gas",
}


def normalize_phase(path: str | None) -> str | None:
    """The tree spelling of a phase path (`solid:non particulate:flexible body` -> `..._particulate:...`)."""
    if path is None:
        return None
    text = ":".join(part.strip() for part in str(path).strip().lower().split(":"))
    text = re.sub(r"\s+", " ", text)
    for wrong, right in _PHASE_FIXES.items():
        if text == wrong or text.startswith(wrong + ":") or text.endswith(":" + wrong):
            text = text.replace(wrong, right)
    return text or None


def phase_top(path: str | None) -> str | None:
    """`solid`, `liquid` or `aerosol/gas` (the first level of the tree)."""
    norm = normalize_phase(path)
    return norm.split(":")[0] if norm else None


def normalize_transition(label: str | None) -> str | None:
    """Lower-case, single-spaced label (`Flow  Out` -> `flow out`); spelling is kept."""
    if label is None:
        return None
    text = " ".join(str(label).lower().split())
    return text or None


def transition_group(label: str | None) -> str | None:
    """IS / IL / IG / CP for the 23 transitions, None otherwise."""
    norm = normalize_transition(label)
    return TRANSITION_GROUP.get(norm) if norm else None


def is_intra(label: str | None) -> bool | None:
    """True for intra-phase (IS, IL, IG), False for cross-phase (CP), None outside the 23."""
    group = transition_group(label)
    return None if group is None else group != "CP"
