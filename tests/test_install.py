"""The install: the environment matches constraints.txt, and (`pytest -m drift`) the newest allowed
versions still pass the tests, so a breaking release is found here before users find it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"


def pinned() -> dict[str, str]:
    out = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, wanted = line.partition("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = wanted
    return out


def _base(found: str) -> str:
    return found.split("+", 1)[0]  # torch's CPU build reports 2.13.0+cpu


def test_constraints_pin_every_dependency_exactly():
    names = pinned()
    assert names, "constraints.txt is empty"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.!+-]*", v) for v in names.values()), "every line must be name==version"
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in map(Requirement, declared):
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name == "framing":
            continue
        assert name in names, f"{requirement.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert requirement.specifier.contains(names[name], prereleases=True), (
            f"constraints.txt pins {name}=={names[name]}, outside pyproject's {requirement.specifier}"
        )


def test_installed_versions_match_the_constraints():
    drifted = []
    for name, wanted in pinned().items():
        try:
            found = version(name)
        except PackageNotFoundError:
            continue  # an extra this environment did not install
        if _base(found) != _base(wanted):
            drifted.append(f"{name}: installed {found}, constraints.txt {wanted}")
    assert drifted == [], "the environment drifted from constraints.txt: " + "; ".join(drifted)


@pytest.mark.drift
def test_the_newest_allowed_versions_pass_the_tests(tmp_path):
    """Scheduled-style: a fresh venv with no constraints (pip resolves the newest versions that
    pyproject.toml allows), then the fast test suite in it. Minutes; run with `pytest -m drift`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--upgrade-strategy", "eager", "-e", f"{ROOT}[test]"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--deselect", "tests/test_install.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-5000:]
