"""find_chromium: $FMNIST_CHROMIUM first, then Debian's path, then PATH; else a clear error.

Every browser here is a fake executable in tmp_path; the real /usr/bin/chromium never counts,
because each test passes its own Debian path. Nothing is installed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_lib.browser import BROWSER_VARIABLE, BrowserError, find_chromium


def fake_executable(path: Path, mode: int = 0o755) -> Path:
    """A small shell script at path with the given permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho fake chromium\n")
    path.chmod(mode)
    return path


def run_browser_command(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m fmnist_lib browser` with env added to this (monkeypatched) environment."""
    return subprocess.run(
        [sys.executable, "-m", "fmnist_lib", "browser"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """No browser anywhere: the variable unset, PATH an empty folder, a missing Debian path."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.delenv(BROWSER_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path / "debian" / "chromium"


def test_debian_chromium_is_found_when_present(nowhere):
    debian = fake_executable(nowhere)
    assert find_chromium(debian) == debian


def test_debian_chromium_comes_before_one_on_path(nowhere, tmp_path, monkeypatch):
    debian = fake_executable(nowhere)
    fake_executable(tmp_path / "bin" / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_chromium(debian) == debian


@pytest.mark.parametrize("name", ["chromium", "chromium-browser"])
def test_chromium_on_path_is_found_without_debian_chromium(nowhere, tmp_path, monkeypatch, name):
    on_path = fake_executable(tmp_path / "bin" / name)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_chromium(nowhere) == on_path


def test_the_variable_wins_over_debian_and_path(nowhere, tmp_path, monkeypatch):
    fake_executable(nowhere)
    fake_executable(tmp_path / "bin" / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    chosen = fake_executable(tmp_path / "mine" / "chrome")
    monkeypatch.setenv(BROWSER_VARIABLE, str(chosen))
    assert find_chromium(nowhere) == chosen


@pytest.mark.parametrize("problem", ["missing", "not executable", "a folder"])
def test_the_variable_naming_an_unusable_file_is_an_error_naming_it(
    nowhere, tmp_path, monkeypatch, problem
):
    fake_executable(nowhere)  # a usable Debian browser must not hide the variable's mistake
    target = tmp_path / "mine" / "chrome"
    if problem == "not executable":
        fake_executable(target, mode=0o644)
    elif problem == "a folder":
        target.mkdir(parents=True)
    monkeypatch.setenv(BROWSER_VARIABLE, str(target))
    with pytest.raises(BrowserError, match=BROWSER_VARIABLE) as error:
        find_chromium(nowhere)
    assert str(target) in str(error.value)


def test_non_executable_debian_file_is_skipped(nowhere, tmp_path, monkeypatch):
    fake_executable(nowhere, mode=0o644)
    on_path = fake_executable(tmp_path / "bin" / "chromium-browser")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_chromium(nowhere) == on_path


def test_missing_everywhere_is_one_error_saying_how_to_provide_one(nowhere):
    with pytest.raises(BrowserError) as error:
        find_chromium(nowhere)
    message = str(error.value)
    assert "\n" not in message
    assert str(nowhere) in message
    assert "apt-get install chromium" in message
    assert BROWSER_VARIABLE in message


def test_cli_browser_prints_the_path_it_found(nowhere, tmp_path):
    chosen = fake_executable(tmp_path / "mine" / "chrome")
    process = run_browser_command({BROWSER_VARIABLE: str(chosen)})
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == str(chosen)


def test_cli_browser_with_a_bad_variable_exits_2_with_one_line(nowhere, tmp_path):
    missing = tmp_path / "no-such-chrome"
    process = run_browser_command({BROWSER_VARIABLE: str(missing)})
    assert process.returncode == 2
    assert process.stdout == ""
    (line,) = process.stderr.strip().splitlines()
    assert BROWSER_VARIABLE in line and str(missing) in line
