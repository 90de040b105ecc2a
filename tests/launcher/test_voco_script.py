"""`./voco` installs all or nothing: a failed install stops with pip's message and a
non-zero status, marks nothing installed, and the next run repairs it.

Runs a copy of the script on a project whose only requirement pip cannot install
(a local file that does not exist: pip fails at once, with no network), then on one
with no requirement at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROJECT = """[project]
name = "voco-install-test"
version = "0"
dependencies = [{requirement}]

[project.optional-dependencies]
dev = []
pgserver = []
"""


def checkout(tmp_path: Path, requirement: str) -> Path:
    root = tmp_path / "checkout"
    (root / "launcher").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "voco", root / "voco")
    shutil.copy(ROOT / "launcher" / "requirements.py", root / "launcher" / "requirements.py")
    (root / "pyproject.toml").write_text(PROJECT.format(requirement=requirement))
    return root


def outside_the_venv() -> str:
    """PATH as the user has it, without the virtualenv the tests run in."""
    ours = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)


def run_voco(root: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    # `up` with no launcher package in the copy: once installed, python fails to find it,
    # which says the script got past the install.
    return subprocess.run(
        ["bash", str(root / "voco"), "up"],
        env={"PATH": outside_the_venv(), "VOCO_VENV": str(venv), "HOME": str(venv.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_failed_install_stops_with_pips_message_and_the_next_run_repairs(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    missing = tmp_path / "no-such-package-0.tar.gz"
    root = checkout(tmp_path, f'"broken @ file://{missing}"')

    failed = run_voco(root, venv)

    assert failed.returncode == 1, failed.stderr
    assert str(missing) in failed.stderr  # pip's own message
    assert "installing into" in failed.stderr
    assert "failed" in failed.stderr
    assert not list(venv.glob(".installed-*"))
    assert (venv / ".incomplete").exists()

    again = run_voco(root, venv)  # still broken: fails the same way, never "installed"
    assert again.returncode == 1
    assert not list(venv.glob(".installed-*"))

    root = checkout(tmp_path, "")
    repaired = run_voco(root, venv)

    assert "half-made" in repaired.stderr
    assert "No module named launcher" in repaired.stderr  # got past the install
    assert len(list(venv.glob(".installed-*"))) == 1
    assert not (venv / ".incomplete").exists()


def test_a_venv_interrupted_before_pip_existed_is_made_again(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    root = checkout(tmp_path, "")
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /nowhere\n")  # venv stopped half-way

    result = run_voco(root, venv)

    assert "half-made" in result.stderr
    assert "No module named launcher" in result.stderr
    assert len(list(venv.glob(".installed-*"))) == 1
