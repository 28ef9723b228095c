"""axe-core, the accessibility checker that the published-book tests run in every page.

`axe_script()` gives the path of `axe.min.js` at AXE_CORE_VERSION. The first call fetches the
package from the npm registry with `npm pack`, checks the tarball against the registry's
integrity hash written below, and keeps the script in ~/.cache/fmnist-book/axe-core/ (or
$FMNIST_AXE_CACHE); later calls read it from there. `make npm` provides npm.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from fmnist_lib.cache import write_atomically

AXE_CORE_VERSION = "4.14.1"
# `npm view axe-core@4.14.1 dist.integrity`: the SHA-512 of the registry's tarball.
AXE_CORE_INTEGRITY = (
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5"
    "qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
CACHE_VARIABLE = "FMNIST_AXE_CACHE"
SCRIPT_IN_TARBALL = "package/axe.min.js"
# The success criteria of WCAG 2.0 at levels A and AA, as axe-core tags its rules.
WCAG_TAGS = ["wcag2a", "wcag2aa"]
# Runs axe-core on the whole page; one line per violated rule, with the first elements at fault.
# No preloading: axe-core would fetch the page's stylesheets again with XMLHttpRequest, which a
# page opened from file:// may not do (a console error); the WCAG 2.0 rules do not need them.
AXE_RUN_JS = """
async (tags) => {
  const options = {
    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], preload: false,
  };
  const results = await axe.run(document, options);
  return results.violations.map((rule) => {
    const where = rule.nodes.slice(0, 3).map((node) => node.target.join(' ')).join('; ');
    return `${rule.id} (${rule.impact}): ${rule.help}; ${rule.nodes.length} elements, ${where}`;
  });
}
"""


class AxeCoreError(Exception):
    """axe-core could not be fetched or did not match its pinned integrity hash."""


def cache_folder() -> Path:
    """Where the script is kept: $FMNIST_AXE_CACHE, else ~/.cache/fmnist-book/axe-core."""
    chosen = os.environ.get(CACHE_VARIABLE)
    return Path(chosen) if chosen else Path.home() / ".cache" / "fmnist-book" / "axe-core"


def integrity(path: Path) -> str:
    """The npm integrity string of a file: `sha512-` and its base64 SHA-512."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def fetch_script(target: Path) -> None:
    """`npm pack` the pinned axe-core, check the tarball's integrity, write its script to target."""
    npm = shutil.which("npm")
    if npm is None:
        raise AxeCoreError("npm is not on PATH; `make npm` installs Debian's npm as root")
    with tempfile.TemporaryDirectory() as folder:
        command = [npm, "pack", f"axe-core@{AXE_CORE_VERSION}", "--pack-destination", folder]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        tarball = Path(folder) / f"axe-core-{AXE_CORE_VERSION}.tgz"
        if result.returncode != 0 or not tarball.is_file():
            raise AxeCoreError(f"`{' '.join(command[1:])}` failed: {result.stderr.strip()[-500:]}")
        found = integrity(tarball)
        if found != AXE_CORE_INTEGRITY:
            raise AxeCoreError(f"axe-core {AXE_CORE_VERSION} from npm has integrity {found}")
        with tarfile.open(tarball) as archive:
            script = archive.extractfile(SCRIPT_IN_TARBALL).read()
    write_atomically(target, lambda partial: partial.write_bytes(script))


def axe_script() -> Path:
    """The path of axe-core's `axe.min.js` at AXE_CORE_VERSION, fetched on first use."""
    target = cache_folder() / f"axe-{AXE_CORE_VERSION}.min.js"
    if not target.is_file():
        fetch_script(target)
    return target
