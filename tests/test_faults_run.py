"""Issue 13, runner side: faults found by trying to break `m3vos run` and `m3vos demo`.

Each test reproduces one numbered fault through the real CLI on real files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_faults import read_only
from helpers_run import synth_dataset
from helpers_cli import one_line_error


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("faults_run") / "ds", videos=2, frames=5)


def test_fault01_force_never_removes_a_path_outside_the_output_folder(cli, data, tmp_path):
    parent = tmp_path / "parent"
    out = parent / "out"
    cli("run", "--model", "static", "--data", data, "--out", out, check=0)
    (parent / "keep.txt").write_text("precious")
    done = out / ".m3vos" / "done"
    (done / "...json").write_text("{}")                 # stem '..': the parent of --out
    (done / "..json").write_text("{}")                  # stem '.': --out itself
    (out / "elsewhere").symlink_to(parent)              # a record naming a link is unlinked, not followed
    (done / "elsewhere.json").write_text("{}")
    cli("run", "--model", "static", "--data", data, "--out", out, "--force", check=0)
    assert (parent / "keep.txt").read_text() == "precious"
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert not (out / "elsewhere").exists() and (parent / "keep.txt").exists()


def test_fault02_demo_refuses_a_folder_that_is_not_its_own(cli, tmp_path):
    target = tmp_path / "mine"
    (target / "data").mkdir(parents=True)
    (target / "data" / "precious.txt").write_text("my dataset")
    proc = cli("demo", "--out", target, "--videos", "1", "--frames", "4", check=2, timeout=120)
    assert "not empty" in one_line_error(proc) and str(target) in proc.stderr
    assert (target / "data" / "precious.txt").read_text() == "my dataset"


def test_fault06_a_second_run_into_the_same_folder_is_refused_naming_the_holder(cli, data, tmp_path):
    # A real first run, kept busy by an external command that sleeps.
    slow = tmp_path / "slow.yaml"
    slow.write_text(f"command: [{sys.executable!r}, -c, 'import time; time.sleep(12)', '{{out}}']\ntimeout: 60\n")
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "m3vos_cli", "run", "--model", str(slow), "--data", str(data),
                              "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while not (out / "run.json").is_file() and time.monotonic() < end:
            time.sleep(0.05)
        assert first.poll() is None
        proc = cli("run", "--model", slow, "--data", data, "--out", out, check=2)
        line = one_line_error(proc)
        assert f"pid {first.pid}" in line and socket.gethostname() in line
        # The refused run touched nothing: the first run's temporary folder is still there.
        assert list(out.glob(".tmp-*")) and first.poll() is None
    finally:
        first.kill()          # SIGKILL: the lock file stays behind, its lock dies with the process
        first.wait()
    assert (out / ".m3vos" / "lock").exists()
    cli("run", "--model", "static", "--data", data, "--out", out, "--force", check=0)
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_fault06_shards_share_a_folder_but_not_a_shard(tmp_path):
    from m3vos.runner.lock import OutputLock, RunLockedError

    out = tmp_path / "out"
    with OutputLock(out, (0, 2)), OutputLock(out, (1, 2)):      # an array job: side by side
        with pytest.raises(RunLockedError, match=f"shard 1/2 \\(pid {os.getpid()} on host"):
            OutputLock(out, (1, 2)).acquire()
        with pytest.raises(RunLockedError, match="unsharded|another m3vos run"):
            OutputLock(out).acquire()
    with OutputLock(out):                                       # all released
        with pytest.raises(RunLockedError, match="an unsharded m3vos run"):
            OutputLock(out, (0, 2)).acquire()


def test_fault14_unwritable_out_is_an_environment_error(cli, data, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        proc = cli("run", "--model", "static", "--data", data, "--out", ro / "preds", check=3)
    assert "cannot write the output folder" in one_line_error(proc)


def test_fault16_a_run_refused_as_bad_input_leaves_no_run_json(cli, data, tmp_path):
    no_ray = tmp_path / "no_ray"
    (no_ray / "ray").mkdir(parents=True)
    (no_ray / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(no_ray), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    proc = cli("run", "--model", "static", "--data", data, "--out", out, "--executor", "ray", env=env, check=2)
    assert "needs Ray" in one_line_error(proc)
    assert not (out / "run.json").exists()
    cli("run", "--model", "flow", "--data", data, "--out", out, check=0)   # another model: not locked out


def test_fault17_external_tracker_cwd_timeout_and_kept_log(cli, data, tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('loading model')\nprint('step 2')\nprint('boom: CUDA out of memory')\n"
                      "sys.exit(3)\n")
    bad_cwd = tmp_path / "cwd.yaml"
    bad_cwd.write_text(f"command: [{sys.executable!r}, {str(script)!r}, '{{out}}']\ncwd: no_such_folder\n")
    line = one_line_error(cli("run", "--model", bad_cwd, "--data", data, "--out", tmp_path / "o1", check=2))
    assert "`cwd`" in line and "no_such_folder" in line and "cannot start" not in line

    nan = tmp_path / "nan.yaml"
    nan.write_text(f"command: [{sys.executable!r}, {str(script)!r}, '{{out}}']\ntimeout: .nan\n")
    assert "`timeout`" in one_line_error(cli("run", "--model", nan, "--data", data, "--out", tmp_path / "o2", check=2))

    failing = tmp_path / "failing.yaml"
    failing.write_text(f"command: [{sys.executable!r}, {str(script)!r}, '{{out}}']\n")
    out = tmp_path / "o3"
    proc = cli("run", "--model", failing, "--data", data, "--out", out, check=1)
    name = sorted(p.stem for p in (out / ".m3vos" / "failed").glob("*.json"))[0]
    error = json.loads((out / ".m3vos" / "failed" / f"{name}.json").read_text())["error"]
    assert "boom: CUDA out of memory" in error and "step 2" in error
    kept = Path(error.split("full output in ")[1].split(")")[0])
    assert kept.read_text().startswith("loading model")
    assert "step 2" in proc.stdout + proc.stderr


def test_fault18_run_hints_are_right(cli, data, tmp_path):
    assert "m3vos[ray]" in cli("run", "--help", check=0).stdout
    line = one_line_error(cli("run", "--model", "static", "--data", data, "--out", tmp_path / "o", "--videos", "nope",
                         check=2))
    assert "data info" not in line and "ImageSets" in line
