"""The GitHub Actions workflow: actionlint passes it, and it does what the README says.

Every push runs `make test`; a tag v* or a manual run also trains the book's runs in
`shards.WORKFLOW_SHARDS` jobs (each `prepare --shard K/N`, its cache restored by that shard's
keys, its runs exported as a bundle), then one job imports every bundle, builds the book, bundles
all the runs as runs.tar.gz and deploys the book to GitHub Pages, and another pushes the executed
chapters to the branch the book's launch buttons open; a tag also gets runs.tar.gz as a release
asset.
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fmnist_lib import shards
from fmnist_lib.published_notebooks import NOTEBOOKS_BRANCH

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
README = ROOT / "README.md"
# The executed chapters in the built book, which its download button offers.
PUBLISHED_NOTEBOOKS = "_build/html/_sources/notebooks/*.ipynb"


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


def step_index(steps: list[dict], fragment: str) -> int:
    """The index of the first step whose `run:` script contains `fragment`."""
    return next(i for i, step in enumerate(steps) if fragment in step.get("run", ""))


def test_every_push_runs_make_test_and_a_tag_or_a_manual_run_publishes():
    workflow = load()
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert not workflow["on"]["push"], "push is filtered; the tests must run on every push"
    jobs = workflow["jobs"]
    assert "if" not in jobs["test"]
    assert "make test" in runs(jobs["test"])
    condition = jobs["train"]["if"]
    assert "refs/tags/v" in condition and "workflow_dispatch" in condition
    assert jobs["train"]["needs"] == "test"
    assert jobs["book"]["needs"] == "train"  # skipped with the shards when they are
    assert jobs["deploy"]["needs"] == "book"
    assert jobs["release"]["needs"] == "book"


def test_the_matrix_has_one_job_per_shard_of_the_shards_module_and_the_readme():
    train = load()["jobs"]["train"]
    n = shards.WORKFLOW_SHARDS
    assert train["strategy"]["matrix"] == {"shard": list(range(1, n + 1))}
    assert train["strategy"]["fail-fast"] is False
    assert train["env"]["SHARD"] == "${{ matrix.shard }}/${{ strategy.job-total }}"
    readme = README.read_text(encoding="utf-8")
    assert f"{n} shards" in readme and "prepare --shard K/N" in readme


def test_every_shard_restores_its_cache_trains_its_part_and_uploads_it_as_a_bundle():
    train = load()["jobs"]["train"]
    steps = train["steps"]
    keys = step_index(steps, 'prepare --keys --shard "$SHARD" >')
    keys_file = steps[keys]["run"].split('prepare --keys --shard "$SHARD" >')[1].split()[0]
    cache = next(
        i
        for i, step in enumerate(steps)
        if step.get("uses", "").startswith("actions/cache@") and step["with"]["path"] == "results"
    )
    assert f"hashFiles('{keys_file}')" in steps[cache]["with"]["key"]
    assert "${{ matrix.shard }}" in steps[cache]["with"]["key"]
    trains = step_index(steps, 'prepare --shard "$SHARD"')
    command = steps[trains]["run"]
    assert f"--workers {shards.RUNNER_WORKERS} --threads" in command
    bundle = step_index(steps, "runs export")
    export = shlex.split(steps[bundle]["run"])
    assert export[export.index("--keys") + 1] == keys_file
    out = export[export.index("export") + 1]
    (upload,) = steps_using(train, "actions/upload-artifact")
    assert upload["with"]["path"] == out
    assert "${{ matrix.shard }}" in upload["with"]["name"]
    assert keys < cache < trains < bundle < steps.index(upload)


def test_the_book_job_imports_every_shard_before_make_book_then_bundles_every_run():
    jobs = load()["jobs"]
    steps = jobs["book"]["steps"]
    (download,) = steps_using(jobs["book"], "actions/download-artifact")
    shard_name = jobs["train"]["steps"][-1]["with"]["name"]
    prefix = download["with"]["pattern"].removesuffix("*")
    assert download["with"]["pattern"].endswith("*") and shard_name.startswith(prefix)
    assert download["with"]["merge-multiple"] is True
    imports = step_index(steps, "fmnist_lib runs import")
    assert download["with"]["path"] in steps[imports]["run"]
    book = next(i for i, step in enumerate(steps) if step.get("run") == "make book")
    bundle = step_index(steps, "runs export _build/runs.tar.gz")
    assert "prepare --keys >" in steps[bundle]["run"]
    assert steps.index(download) < imports < book < bundle
    uploads = steps_using(jobs["book"], "actions/upload-artifact")
    assert [u["with"]["path"] for u in uploads] == ["_build/runs.tar.gz", PUBLISHED_NOTEBOOKS]


def test_only_the_release_and_notebooks_jobs_write_and_release_runs_only_on_tags():
    workflow = load()
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    release = jobs["release"]
    assert release["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert release["permissions"] == {"contents": "write"}
    writers = [name for name, job in jobs.items() if job.get("permissions", {}).get("contents")]
    assert writers == ["release", "notebooks"]
    (download,) = steps_using(release, "actions/download-artifact")
    (bundle, _) = steps_using(jobs["book"], "actions/upload-artifact")
    assert download["with"]["name"] == bundle["with"]["name"]
    (upload,) = [step for step in release["steps"] if "gh release upload" in step.get("run", "")]
    assert "_build/runs.tar.gz" in upload["run"]
    assert upload["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_the_executed_chapters_are_pushed_where_the_launch_buttons_open_them():
    """The book job uploads the notebooks its download button offers; the notebooks job puts
    them into notebooks/ on the branch that _config.yml's launch buttons name."""
    jobs = load()["jobs"]
    (_, chapters) = steps_using(jobs["book"], "actions/upload-artifact")
    assert chapters["with"]["path"] == PUBLISHED_NOTEBOOKS
    job = jobs["notebooks"]
    assert job["needs"] == "book"
    assert job["permissions"] == {"contents": "write"}
    assert job["env"]["BRANCH"] == NOTEBOOKS_BRANCH
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["html_theme_options"]["repository_branch"] == NOTEBOOKS_BRANCH
    (download,) = steps_using(job, "actions/download-artifact")
    assert download["with"]["name"] == chapters["with"]["name"]
    script = runs(job)
    assert f"cp {download['with']['path']}/*.ipynb notebooks/" in script
    assert 'git push --force origin "HEAD:refs/heads/${BRANCH}"' in script


def test_the_book_is_uploaded_and_deployed_to_github_pages():
    jobs = load()["jobs"]
    (upload,) = steps_using(jobs["book"], "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    deploy = jobs["deploy"]
    assert steps_using(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
