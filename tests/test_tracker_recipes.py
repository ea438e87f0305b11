"""The external-command recipes in docs/trackers.md are valid tracker YAML: they load, and every
placeholder fills (a typo such as `${W}` would break `str.format` at run time)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[1] / "docs" / "trackers.md"


def test_every_recipe_loads_and_fills_its_placeholders(tmp_path):
    from m3vos.trackers.base import VideoInput
    from m3vos.trackers.external import load_external_tracker

    recipes = re.findall(r"```yaml\n# ([\w-]+)\.yaml\n(.*?)```", DOC.read_text(), re.S)
    assert {name for name, _ in recipes} >= {"xmem", "deaot", "deva", "samurai", "mine"}
    video = VideoInput(name="v1", frames=[np.zeros((4, 4, 3), np.uint8)],
                       masks={0: np.ones((4, 4), np.uint8)}, object_ids=[1], size=(4, 4))
    for name, text in recipes:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        cmd = load_external_tracker(path)()._command(video, tmp_path / "work")
        joined = " ".join(cmd)
        assert str(tmp_path / "work" / "out") in joined, name
        assert "{" not in joined and "}" not in joined, (name, joined)
