"""The Chromium that the published-book tests drive: found, never installed, by this module.

The order: the executable named by `$FMNIST_CHROMIUM` (the only one used when it is set),
Debian's `/usr/bin/chromium`, then `chromium` or `chromium-browser` on PATH. `make browser`
installs Debian's package when none is found and it runs as root with apt-get.
"""

import os
import shutil
from pathlib import Path

__all__ = ["BROWSER_VARIABLE", "DEBIAN_CHROMIUM", "PATH_NAMES", "BrowserError", "find_chromium"]

BROWSER_VARIABLE = "FMNIST_CHROMIUM"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
PATH_NAMES = ("chromium", "chromium-browser")
HOW_TO_PROVIDE = (
    "install Debian's chromium (`apt-get install chromium`, as root) "
    f"or set {BROWSER_VARIABLE} to a Chromium executable"
)


class BrowserError(Exception):
    """No usable Chromium was found; the message says how to provide one."""


def is_executable(path: Path) -> bool:
    """True when path is a file that this user may execute."""
    return path.is_file() and os.access(path, os.X_OK)


def find_chromium(debian_path: Path = DEBIAN_CHROMIUM) -> Path:
    """The Chromium executable: $FMNIST_CHROMIUM, else debian_path, else one on PATH."""
    chosen = os.environ.get(BROWSER_VARIABLE)
    if chosen:
        path = Path(chosen).expanduser()
        if not is_executable(path):
            raise BrowserError(
                f"{BROWSER_VARIABLE}={chosen} is not an executable file; "
                f"point {BROWSER_VARIABLE} at a Chromium executable or unset it"
            )
        return path
    if is_executable(debian_path):
        return debian_path
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    names = " or ".join(PATH_NAMES)
    raise BrowserError(
        f"no Chromium found (not {debian_path}, no {names} on PATH): {HOW_TO_PROVIDE}"
    )
