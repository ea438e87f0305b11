"""m3vos: benchmark toolkit for M3-VOS (multi-phase video object segmentation).

Importing this package must stay cheap: no torch, no pandas, no model code. Each concern lives
in its own subpackage (`data`, `metrics`, `analysis`, `trackers`, `runner`) and is imported
where it is used.
"""

__version__ = "0.1.0"

from m3vos.errors import M3vosError  # noqa: E402  (tiny, dependency-free)

__all__ = ["__version__", "M3vosError"]
