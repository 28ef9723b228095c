"""binder/: the environment Binder (repo2docker) builds for a reader who launches a chapter.

Binder reads binder/runtime.txt (the Python), installs binder/requirements.txt, then runs
binder/postBuild in the checkout. pip resolves those installs here, into a new virtual
environment, without installing (`--dry-run`, which needs the package index): the resolved set
holds the package, JupyterLab and Jupytext.
"""

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
# The pip install that postBuild runs, and what it installs.
POSTBUILD_INSTALL = re.compile(r"^python -m pip install (.+)$", re.MULTILINE)
NEEDED = {"fmnist-lib", "jupyterlab", "jupytext"}


def canonical(name: str) -> str:
    """A distribution's name as pip compares them: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_runtime_is_a_python_the_package_supports():
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, runtime
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f">=3.{match[1]}" in project["requires-python"], project["requires-python"]


def test_postbuild_installs_the_checkout_with_its_lab_extra_and_opens_md_with_jupytext():
    postbuild = BINDER / "postBuild"
    assert postbuild.stat().st_mode & 0o111, "postBuild must be executable"
    script = postbuild.read_text(encoding="utf-8")
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    (arguments,) = POSTBUILD_INSTALL.findall(script)
    assert '".[lab]"' in shlex.split(arguments, posix=False)
    assert "jupytext-config set-default-viewer markdown myst" in script


def resolve_binder_environment(folder: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """pip's dry run of Binder's installs into a new venv in `folder`: (pip's exit, the names of
    the distributions it would install)."""
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    report = folder / "report.json"
    (arguments,) = POSTBUILD_INSTALL.findall((BINDER / "postBuild").read_text(encoding="utf-8"))
    command = [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report)]
    command += ["-r", str(BINDER / "requirements.txt"), *shlex.split(arguments)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if run.returncode != 0:
        return run, set()
    install = json.loads(report.read_text())["install"]
    return run, {canonical(item["metadata"]["name"]) for item in install}


def test_binder_environment_resolves_with_the_package_jupyterlab_and_jupytext(binder_resolution):
    run, resolved = binder_resolution.result()
    assert run.returncode == 0, run.stderr[-3000:]
    assert resolved >= NEEDED, f"missing from Binder's environment: {NEEDED - resolved}"
