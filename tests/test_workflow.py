"""The GitHub Actions workflow: actionlint passes it, and it does what the README says.

Every push runs `make test`; a tag v* or a manual run also builds the book with the training
cache restored by the keys of `prepare --keys`, and deploys it to GitHub Pages.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def actionlint() -> Path:
    """The actionlint command installed with the dev extra (next to this Python), or on PATH."""
    beside = Path(sys.executable).with_name("actionlint")
    found = beside if beside.is_file() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is missing: install the dev extra (`make test` does it)")
    return Path(found)


def lint(workflow: Path) -> subprocess.CompletedProcess:
    """Run actionlint on one workflow file, without colours."""
    command = [str(actionlint()), "-no-color", str(workflow)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def load(workflow: Path = WORKFLOW) -> dict:
    """The workflow as a dict; YAML 1.1 reads the key `on` as True, so it is renamed back."""
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps_using(job: dict, action: str) -> list[dict]:
    """The steps of a job that use an action, any version: `actions/cache` for actions/cache@v5."""
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def runs(job: dict) -> str:
    """Every `run:` script of a job, one after the other."""
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_actionlint_passes_the_workflow():
    process = lint(WORKFLOW)
    assert process.returncode == 0, process.stdout + process.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "book.yml"
    broken.write_text(
        WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "runs_on:", 1), encoding="utf-8"
    )
    process = lint(broken)
    assert process.returncode != 0
    assert "runs_on" in process.stdout


def test_every_push_runs_make_test_and_a_tag_or_a_manual_run_publishes():
    workflow = load()
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert not workflow["on"]["push"], "push is filtered; the tests must run on every push"
    jobs = workflow["jobs"]
    assert "if" not in jobs["test"]
    assert "make test" in runs(jobs["test"])
    condition = jobs["book"]["if"]
    assert "refs/tags/v" in condition and "workflow_dispatch" in condition
    assert jobs["book"]["needs"] == "test"
    assert jobs["deploy"]["needs"] == "book"


def test_the_book_job_restores_the_training_cache_keyed_on_prepare_keys():
    steps = load()["jobs"]["book"]["steps"]
    keys = next(i for i, step in enumerate(steps) if "prepare --keys >" in step.get("run", ""))
    keys_file = steps[keys]["run"].split("prepare --keys >")[1].split()[0]
    cache = next(
        i
        for i, step in enumerate(steps)
        if step.get("uses", "").startswith("actions/cache@") and step["with"]["path"] == "results"
    )
    assert f"hashFiles('{keys_file}')" in steps[cache]["with"]["key"]
    book = next(i for i, step in enumerate(steps) if step.get("run") == "make book")
    assert keys < cache < book, "keys, then the cache restored, then make book (which saves it)"


def test_the_book_is_uploaded_and_deployed_to_github_pages():
    jobs = load()["jobs"]
    (upload,) = steps_using(jobs["book"], "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    deploy = jobs["deploy"]
    assert steps_using(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
