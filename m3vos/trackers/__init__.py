"""Trackers: the interface (`Tracker`), the registry (`get_tracker`, `list_trackers`) and the
built-in trackers. Importing this package imports no model code and no torch."""

from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput
from m3vos.trackers.registry import get_tracker, list_trackers

__all__ = ["Capabilities", "Tracker", "TrackerOutput", "VideoInput", "get_tracker", "list_trackers"]
