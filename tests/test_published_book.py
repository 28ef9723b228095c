"""The published book: built from the smoke-executed chapters, read offline in Chromium.

A session fixture assembles the book in a temporary folder (the config, the toc, book/, a link
to fmnist_lib/ for the chapters' `literalinclude`s, and the executed chapters as
notebooks/<chapter>.ipynb, each also stored in the build's jupyter-cache as `make book` would)
and builds it with warnings as errors. Every page of the HTML is then opened from disk in
headless Chromium (found by fmnist_lib.browser; `make browser` provides it), driven by
Playwright: no console error, no failed request, no request off the machine, every image shown
and described in words, all math typeset by the book's own MathJax, each document's source
offered for download, and no violation of WCAG 2 levels A and AA that axe-core (fetched from npm
by tests/axe_core.py) finds, in light mode or in dark mode. Each figure comes in a light and a
dark version, and the text in a figure keeps its contrast against the page in both modes. Each
chapter is offered as an executed notebook whose first cell installs the package, Binder and
Colab open that notebook on the branch the workflow publishes it to, and one such notebook, alone
in an empty folder, runs in a fresh virtual environment.
At a 1280-px and a 390-px window every page leaves a full-page screenshot in the project's
_build/screenshots/, and each display equation, code block and table fits its box: at 1280
px all of them, at 390 px all but code blocks and tables, which may scroll inside their own
boxes; the page itself never scrolls sideways.
"""

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import nbformat
import numpy as np
import pytest
import yaml
from axe_core import AXE_RUN_JS, WCAG_TAGS, AxeCoreError, axe_script
from jupyter_cache import get_cache
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Request, sync_playwright
from test_notebooks import CHAPTERS, NOTEBOOKS, ROOT, SmokeRuns, smoke_parameters, toc_documents

from fmnist_lib.browser import BrowserError, find_chromium
from fmnist_lib.figure_modes import MODES
from fmnist_lib.published_notebooks import INSTALL_CELL_KEY, NOTEBOOKS_BRANCH, PACKAGE

JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
LIBRARY = "fmnist_lib"
# Where jupyter-book keeps executed notebooks (its default, written out for the test book).
EXECUTION_CACHE = Path("_build") / ".jupyter_cache"
EXECUTION_PAGE = "book/execution"
# A `literalinclude` or `include` directive of MyST (``` or ::: fence) and the path it names.
INCLUDE_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(?:literalinclude|include)\}\s+(\S+)", re.M)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
LOCAL_SCHEMES = ("file:", "data:", "about:")
SOURCES = {".md", ".ipynb"}
# notebooks/ is copied without the chapters' sources: the executed .ipynb take their place.
NOT_COPIED = shutil.ignore_patterns("*.md", "*.ipynb", ".ipynb_checkpoints", "__pycache__")
TIMEOUT_MS = 30_000
DOCUMENTS = toc_documents()
# Pages Sphinx and jupyter-book write besides the documents; index.html redirects to the root.
PAGES = [*DOCUMENTS, "index", "genindex", "search"]
# Pages checked side by side: opening, measuring and screenshotting them is most of the time the
# browser tests take, and each Chromium renders on a core of its own.
VISIT_WORKERS = max(1, min(4, os.cpu_count() or 1))
SPHINX_WARNING = re.compile(r"^(?:.*?: )?WARNING: .*$", re.MULTILINE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Waits for MathJax to finish the first typesetting, then lists the math it did not render.
UNRENDERED_MATH_JS = """
async (timeoutMs) => {
  const maths = Array.from(document.querySelectorAll('.math'));
  if (maths.length === 0) return [];
  if (!window.MathJax || !window.MathJax.startup) return ['MathJax did not load'];
  const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), timeoutMs));
  const done = window.MathJax.startup.promise.then(() => 'done');
  if (await Promise.race([done, timeout]) === 'timeout') return ['MathJax did not finish'];
  const excerpt = (el) => el.textContent.trim().slice(0, 80);
  return maths.flatMap((el) => {
    const error = el.querySelector('mjx-merror');
    if (error) return [`TeX error: ${error.getAttribute('data-mjx-error')}`];
    return el.querySelector('mjx-container') ? [] : [`not typeset: ${excerpt(el)}`];
  });
}
"""
# Loads every image (lazy ones too), then lists those that did not load or have no pixels.
BROKEN_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  return images
    .filter((img) => !img.complete || img.naturalWidth === 0)
    .map((img) => `${img.getAttribute('src')} (alt: ${img.alt || 'none'})`);
}
"""
# Every image's alt text and source, as the browser reads them.
IMAGE_ALTS_JS = """
() => Array.from(document.images).map((img) => [img.getAttribute('alt') ?? '', img.src])
"""
# Alt text that names a file instead of describing it: a bare file name or a path.
FILE_LIKE_ALT = re.compile(r"^\S*[/\\]\S*$|^\S+\.(?:png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)
# The theme's colour mode set as its switcher sets it (pydata-sphinx-theme: data-mode and
# data-theme on <html>), then two frames for the page to be drawn in it and the end of any
# colour transition it starts.
SET_MODE_JS = """
async (mode) => {
  document.documentElement.dataset.mode = mode;
  document.documentElement.dataset.theme = mode;
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const transitions = document.getAnimations().filter((a) => a instanceof CSSTransition);
  await Promise.all(transitions.map((transition) => transition.finished.catch(() => null)));
}
"""
# Images of code cells' outputs that are not one of a light and dark pair.
UNPAIRED_FIGURES_JS = """
() => {
  const images = Array.from(document.querySelectorAll('.cell_output img'));
  const only = (mode) => images.filter((img) => img.classList.contains(`only-${mode}`)).length;
  const unpaired = images.filter((img) => !img.matches('.only-light, .only-dark'));
  const problems = unpaired.map((img) => `${img.src.split('/').pop()}: neither mode's version`);
  if (only('light') !== only('dark')) {
    problems.push(`${only('light')} light versions but ${only('dark')} dark ones`);
  }
  return problems;
}
"""
# A page with a figure whose text sits on the page: the histogram of pixel values.
FIGURE_PAGE = "notebooks/data_exploration"
FIGURE_ID = "fig-pixel-histogram"
# WCAG 2's minimum contrast for text (success criterion 1.4.3), and how far (per channel, of
# 255) the figure's background may be from the page's.
TEXT_CONTRAST = 4.5
BACKGROUND_TOLERANCE = 3
# A grey drawn in fewer pixels than this is an anti-aliased edge, not the colour of the text.
TEXT_PIXELS = 20
# The repository and commit the test book is built for, named as GitHub Actions names them: the
# launch buttons and the published notebooks' install cell take them from there.
BUILD_REPOSITORY = "readers/fmnist-book"
BUILD_COMMIT = "0123456789abcdef0123456789abcdef01234567"
BUILD_ENVIRONMENT = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": BUILD_REPOSITORY,
    "GITHUB_SHA": BUILD_COMMIT,
}
# The chapter a reader downloads and runs in a fresh environment: a short one.
DOWNLOADED_CHAPTER = "theory_perceptrons"
LAUNCH_LINKS_JS = """
() => Array.from(document.querySelectorAll('.dropdown-launch-buttons a[href]')).map((a) => a.href)
"""
DOWNLOAD_LINKS_JS = """
() => Array.from(document.querySelectorAll('.dropdown-download-buttons a[href]'))
  .map((a) => a.href)
"""


# The page as a reader sees it, measured at a laptop's and a phone's window width (CSS pixels).
LAPTOP_WIDTH = 1280
PHONE_WIDTH = 390
FIT_WIDTHS = (LAPTOP_WIDTH, PHONE_WIDTH)
WINDOW_HEIGHT = 900
# scrollWidth and clientWidth are whole pixels, each rounded on its own.
FIT_TOLERANCE_PX = 1
# Full-page screenshots, one per page and width, where `make test` leaves them: under the
# project's _build/ (the book itself is built in a temporary folder). In 128 colours they take a
# third of the space, the text as sharp.
SCREENSHOTS = ROOT / "_build" / "screenshots"
SCREENSHOT_COLOURS = 128
# Opens every collapsed cell and solution, then measures each display equation, code block and
# table of the article against the box it is drawn in (the nearest element that clips or
# scrolls), and the page against the window: [kind, label, content width, box width, whether
# the box scrolls sideways].
FIT_JS = """
async () => {
  if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
  document.querySelectorAll('details').forEach((details) => { details.open = true; });
  document.querySelectorAll('.toggle-button[aria-expanded="false"]')
    .forEach((button) => button.click());
  const article = document.querySelector('article.bd-article') || document.body;
  const shown = (el) => el.getClientRects().length > 0;
  const excerpt = (text) => text.replace(/\\s+/g, ' ').trim().slice(0, 60);
  const boxOf = (el) => {
    for (let node = el; node && node !== article; node = node.parentElement) {
      if (getComputedStyle(node).overflowX !== 'visible') return node;
    }
    return el.parentElement;
  };
  const scrolls = (box) => ['auto', 'scroll'].includes(getComputedStyle(box).overflowX);
  const found = [];
  const measure = (kind, label, box, content) => {
    found.push([kind, label, Math.ceil(content), box.clientWidth, scrolls(box)]);
  };
  article.querySelectorAll('div.math').forEach((div) => {
    const maths = div.querySelector('mjx-container');
    if (!maths || !shown(div)) return;
    const number = div.querySelector('.eqno');
    const tag = number ? number.textContent.replace('#', '') : '';
    const label = [div.id.replace(/^equation-/, ''), tag].join(' ');
    const box = boxOf(maths);
    measure('equation', excerpt(label) || excerpt(div.textContent), box,
            Math.max(box.scrollWidth, maths.scrollWidth));
  });
  article.querySelectorAll('div.highlight > pre').forEach((pre) => {
    if (!shown(pre)) return;
    const first = pre.textContent.split('\\n').find((line) => line.trim()) || '';
    measure('code block', excerpt(first), pre, pre.scrollWidth);
  });
  article.querySelectorAll('table').forEach((table) => {
    if (!shown(table)) return;
    const head = table.querySelector('caption') || table.querySelector('tr');
    const box = boxOf(table);
    measure('table', excerpt(head ? head.textContent : ''), box,
            Math.max(box.scrollWidth, table.getBoundingClientRect().width));
  });
  const page = document.documentElement;
  found.push(['page', 'the page itself', page.scrollWidth, page.clientWidth, false]);
  return found;
}
"""


@dataclass
class BookBuild:
    """A jupyter-book build: its exit status, its console output and the HTML folder."""

    returncode: int
    output: str
    html: Path


@dataclass(frozen=True)
class Fit:
    """How wide one equation, code block or table (or the page) is, against its box."""

    kind: str
    label: str
    content: int
    box: int
    box_scrolls: bool

    def fits(self) -> bool:
        """The content fits its box, within FIT_TOLERANCE_PX."""
        return self.content <= self.box + FIT_TOLERANCE_PX

    def allowed_at(self, width: int) -> bool:
        """Whether it may be wider than its box at this window width: at phone width a code
        block, or a table whose box is made to scroll; at laptop width nothing may."""
        if width > PHONE_WIDTH or not self.box_scrolls:
            return False
        return self.kind in {"code block", "table"}

    def __str__(self) -> str:
        return f"{self.kind} {self.label!r}: {self.content} px wide in a box of {self.box} px"


@dataclass
class Visit:
    """What one page did when Chromium opened it from disk."""

    url: str = ""
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    image_alts: list[tuple[str, str]] = field(default_factory=list)
    unrendered_math: list[str] = field(default_factory=list)
    download_links: list[str] = field(default_factory=list)
    unpaired_figures: list[str] = field(default_factory=list)
    launch_links: list[str] = field(default_factory=list)
    accessibility: list[str] = field(default_factory=list)
    fit: dict[int, list[Fit]] = field(default_factory=dict)
    failure: str = ""


def is_local(url: str) -> bool:
    """True for URLs that never leave the machine: file:, data: and about:."""
    return url.startswith(LOCAL_SCHEMES)


def url_path(url: str) -> Path:
    """The file on disk that a file:// URL names."""
    return Path(url2pathname(urlparse(url).path))


def executed_chapter(smoke_runs: SmokeRuns, chapter: str) -> Path:
    """The smoke-executed chapter; a chapter that failed its run fails the book with its name."""
    try:
        return smoke_runs.executed(chapter)
    except Exception as error:
        pytest.fail(f"chapter {chapter} failed its smoke run, so the book cannot be built: {error}")


def write_config(source: Path, target: Path) -> None:
    """Copy _config.yml, executing through the jupyter-cache that assemble_book fills."""
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    execute = config.setdefault("execute", {})
    execute["execute_notebooks"] = "cache"
    execute["cache"] = str(target.parent / EXECUTION_CACHE)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def assemble_sources(folder: Path) -> Path:
    """Lay out config, toc, book/, notebooks/ without the chapters, and a link to fmnist_lib/.

    The link makes `../fmnist_lib/theory.py` from a chapter resolve as it does in the project.
    """
    write_config(ROOT / "_config.yml", folder / "_config.yml")
    shutil.copy(ROOT / "_toc.yml", folder / "_toc.yml")
    shutil.copytree(ROOT / "book", folder / "book")
    shutil.copytree(NOTEBOOKS, folder / "notebooks", ignore=NOT_COPIED)
    (folder / LIBRARY).symlink_to(ROOT / LIBRARY, target_is_directory=True)
    return folder


def cache_executed(folder: Path, notebook: Path) -> None:
    """Store an executed notebook in the book's jupyter-cache with papermill's run time."""
    duration = nbformat.read(notebook, as_version=4).metadata.get("papermill", {}).get("duration")
    cache = get_cache(str(folder / EXECUTION_CACHE))
    data = {"execution_seconds": duration} if duration is not None else {}
    cache.cache_notebook_file(str(notebook), data=data, check_validity=False, overwrite=True)


def assemble_book(folder: Path, smoke_runs: SmokeRuns) -> Path:
    """The sources, plus each executed chapter as notebooks/<chapter>.ipynb and in the cache."""
    assemble_sources(folder)
    for chapter in CHAPTERS:
        target = folder / "notebooks" / f"{chapter}.ipynb"
        shutil.copy(executed_chapter(smoke_runs, chapter), target)
        cache_executed(folder, target)
    return folder


def included_paths(document: Path) -> list[str]:
    """The files a MyST document includes with `literalinclude` or `include`, as written."""
    return INCLUDE_DIRECTIVE.findall(document.read_text(encoding="utf-8"))


def resolve_include(book: Path, document: str, included: str) -> Path:
    """Where Sphinx looks for an included path: from the document's folder, or the book's root."""
    if included.startswith("/"):
        return book / included.lstrip("/")
    return book / Path(document).parent / included


def build_book(folder: Path) -> BookBuild:
    """Run `jupyter-book build --warningiserror --keep-going` on an assembled book, for the
    repository and commit of BUILD_ENVIRONMENT."""
    command = [str(JUPYTER_BOOK), "build", str(folder), "--warningiserror", "--keep-going"]
    environment = {**os.environ, **BUILD_ENVIRONMENT}
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=600, env=environment
    )
    output = ANSI_ESCAPE.sub("", result.stdout + result.stderr)
    return BookBuild(result.returncode, output, folder / "_build" / "html")


def page_file(html: Path, page: str) -> Path:
    """The HTML file of a page name such as `notebooks/theory_softmax`."""
    return html / f"{page}.html"


def redirect_target(file: Path) -> Path | None:
    """Where a `<meta http-equiv="Refresh">` page sends the reader, if it is one."""
    match = re.search(r'http-equiv="Refresh" content="\d+;\s*url=([^"]+)"', file.read_text(), re.I)
    return (file.parent / match.group(1)).resolve() if match else None


def listen(page: Page, visit: Visit) -> None:
    """Record the page's console errors, uncaught exceptions and requests into visit."""
    page.on("console", lambda message: record_console(message, visit))
    page.on("pageerror", lambda error: record_exception(error, visit))
    page.on("request", lambda request: record_request(request, visit))
    page.on("requestfailed", lambda request: record_failure(request, visit))


def record_console(message: ConsoleMessage, visit: Visit) -> None:
    """Keep console messages of type error, with where they come from."""
    if message.type == "error":
        where = message.location
        visit.console_errors.append(f"{message.text} ({where['url']}:{where['lineNumber']})")


def record_exception(error: Error, visit: Visit) -> None:
    """Keep an uncaught exception, which Chromium's console shows as an error."""
    visit.console_errors.append(f"uncaught {error.name}: {error.message}")


def record_request(request: Request, visit: Visit) -> None:
    """Keep requests for anything that is not on this machine."""
    if not is_local(request.url):
        visit.outside_requests.append(f"{request.url} ({request.resource_type})")


def record_failure(request: Request, visit: Visit) -> None:
    """Keep local requests that failed; outside ones are blocked and reported on their own."""
    if is_local(request.url):
        visit.failed_requests.append(f"{request.url} ({request.failure})")


def open_page(page: Page, file: Path) -> str:
    """Open an HTML file from disk, follow a redirect page, and return the final URL."""
    page.goto(file.as_uri(), wait_until="load")
    target = redirect_target(file)
    if target is not None:
        page.wait_for_url(target.as_uri(), wait_until="load")
    return page.url


def inspect_page(page: Page, visit: Visit) -> None:
    """Fill visit with the page's math, images and download links once everything has loaded."""
    visit.unrendered_math = page.evaluate(UNRENDERED_MATH_JS, TIMEOUT_MS)
    visit.broken_images = page.evaluate(BROKEN_IMAGES_JS)
    visit.image_alts = [tuple(pair) for pair in page.evaluate(IMAGE_ALTS_JS)]
    page.evaluate("document.fonts.ready.then(() => null)")
    visit.download_links = page.evaluate(DOWNLOAD_LINKS_JS)
    visit.unpaired_figures = page.evaluate(UNPAIRED_FIGURES_JS)
    visit.launch_links = page.evaluate(LAUNCH_LINKS_JS)


def set_mode(page: Page, mode: str) -> None:
    """Show the page in the theme's light or dark mode."""
    page.evaluate(SET_MODE_JS, mode)


def wcag_violations(page: Page, axe: Path) -> list[str]:
    """axe-core's WCAG 2 A and AA violations on the page, in light mode and in dark mode."""
    page.add_script_tag(path=str(axe))
    found = []
    for mode in MODES:
        set_mode(page, mode)
        found += [f"{mode} mode: {rule}" for rule in page.evaluate(AXE_RUN_JS, WCAG_TAGS)]
    return found


def screenshot_path(page: str, width: int) -> Path:
    """Where the screenshot of a page such as `notebooks/theory_softmax` at a width is kept."""
    return SCREENSHOTS / f"{page}-{width}.png"


def save_screenshot(page: Page, path: Path) -> None:
    """A full-page screenshot as a PNG of SCREENSHOT_COLOURS colours."""
    png = page.screenshot(full_page=True, animations="disabled", caret="hide")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(SCREENSHOT_COLOURS, method=Image.Quantize.FASTOCTREE).save(path)


def measure_fit(browser: Browser, file: Path, visit: Visit, name: str) -> None:
    """Open the page afresh at each of FIT_WIDTHS (a tab resized from one width to the other
    keeps some of the theme's layout): screenshot it in light mode as a reader first sees it,
    then open everything collapsed and measure how its equations, code and tables fit."""
    for width in FIT_WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": WINDOW_HEIGHT})
        page.set_default_timeout(TIMEOUT_MS)
        page.route(lambda url: not is_local(url), lambda route: route.abort("blockedbyclient"))
        try:
            open_page(page, file)
            page.evaluate(UNRENDERED_MATH_JS, TIMEOUT_MS)
            page.evaluate(BROKEN_IMAGES_JS)
            page.evaluate("document.fonts.ready.then(() => null)")
            set_mode(page, "light")
            save_screenshot(page, screenshot_path(name, width))
            visit.fit[width] = [Fit(*measured) for measured in page.evaluate(FIT_JS)]
        finally:
            page.close()


def visit_page(browser: Browser, file: Path, axe: Path | None = None, name: str = "") -> Visit:
    """Open one page in a fresh tab with outside requests blocked, and record what it did;
    with axe-core's script, also what axe-core finds; with the page's name, also how its
    content fits the column (measure_fit, which leaves the page's screenshots)."""
    visit = Visit()
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.route(lambda url: not is_local(url), lambda route: route.abort("blockedbyclient"))
    listen(page, visit)
    try:
        visit.url = open_page(page, file)
        inspect_page(page, visit)
        if axe is not None:
            visit.accessibility = wcag_violations(page, axe)
        if name:
            measure_fit(browser, file, visit, name)
    except Error as error:
        visit.failure = str(error)
    finally:
        page.close()
    return visit


@dataclass
class Visits:
    """Each page of the built book opened once, when a test first asks for it."""

    browser: Browser = field(repr=False)
    html: Path
    axe: Path | None = None
    axe_problem: str = ""
    done: dict[str, Visit] = field(default_factory=dict, repr=False)

    def __call__(self, page: str) -> Visit:
        """The visit of a page such as `notebooks/theory_softmax`; fails if it cannot be read."""
        file = page_file(self.html, page)
        if not file.is_file():
            pytest.fail(f"{page}.html: the build did not write it")
        if page not in self.done:
            self.done[page] = visit_page(self.browser, file, self.axe, page)
        visit = self.done[page]
        if visit.failure:
            pytest.fail(f"{page}.html: Chromium could not open and check it: {visit.failure}")
        return visit


def undescribed_image(alt: str, src: str) -> str | None:
    """Why an image's alt text does not describe it in words (empty, a path, a file name)."""
    text = alt.strip()
    if not text:
        return "no alt text"
    if FILE_LIKE_ALT.match(text) or text == Path(urlparse(src).path).name:
        return f"alt text {text!r} names a file"
    return None


def luminance(rgb: tuple[int, ...]) -> float:
    """WCAG 2's relative luminance of an sRGB colour given as 0-255 channels."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 (equal) to 21 (black on white)."""
    darker, lighter = sorted([luminance(first), luminance(second)])
    return (lighter + 0.05) / (darker + 0.05)


def css_rgb(colour: str) -> tuple[int, int, int]:
    """A computed CSS colour `rgb(r, g, b)` as a tuple."""
    red, green, blue = (int(value) for value in re.findall(r"\d+", colour)[:3])
    return red, green, blue


@dataclass
class FigureShot:
    """A figure as the reader sees it in one mode: the page's background and the pixels."""

    mode: str
    page_background: tuple[int, int, int]
    pixels: list[tuple[int, int, int]]
    hidden_version_shown: bool

    def background(self) -> tuple[int, int, int]:
        """The figure's most frequent colour: what its text and marks are drawn on."""
        return Counter(self.pixels).most_common(1)[0][0]

    def text_colour(self) -> tuple[int, int, int]:
        """The grey of at least TEXT_PIXELS pixels that stands out most from the background.

        Text, ticks and axes are grey (black in light mode, a light grey in dark mode) and the
        marks of the data are coloured; the anti-aliased edges of glyphs are paler than their
        solid core, so the text's own colour is the grey of highest contrast.
        """
        background = self.background()
        greys = [
            colour
            for colour, count in Counter(self.pixels).items()
            if count >= TEXT_PIXELS and max(colour) - min(colour) <= 24
        ]
        return max(greys, key=lambda colour: contrast(colour, background), default=background)


def figure_shot(browser: Browser, file: Path, figure_id: str, mode: str) -> FigureShot:
    """Open the page in the given mode and take a screenshot of the figure's visible version."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.route(lambda url: not is_local(url), lambda route: route.abort("blockedbyclient"))
    try:
        open_page(page, file)
        set_mode(page, mode)
        other = next(m for m in MODES if m != mode)
        shown = page.locator(f"#{figure_id} img.only-{mode}")
        hidden_shown = page.locator(f"#{figure_id} img.only-{other}").is_visible()
        png = shown.screenshot()
        background = css_rgb(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    finally:
        page.close()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    pixels = [tuple(pixel) for pixel in rgb.tolist()]
    return FigureShot(mode, background, pixels, hidden_shown)


def published_notebook(html: Path, chapter: str) -> Path:
    """The chapter's executed notebook as the book publishes it, beside its sources."""
    return html / "_sources" / "notebooks" / f"{chapter}.ipynb"


def fresh_environment(folder: Path, wheels: Path) -> Path:
    """A new virtual environment with fmnist_lib installed from a wheel of the checkout, and
    its Python. The dependencies are this environment's (a path file names its site-packages),
    so nothing is downloaded; the package itself is the wheel's, not the checkout."""
    source = wheels / "source"  # a copy, so that building leaves nothing in the checkout
    shutil.copytree(ROOT / PACKAGE, source / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "--wheel-dir", str(wheels), str(source)], check=True, timeout=600)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    (wheel,) = wheels.glob(f"{PACKAGE}-*.whl")
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True, timeout=300)
    site = python_output(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    dependencies = sysconfig.get_paths()["purelib"]
    (Path(site) / "dependencies.pth").write_text(f"{dependencies}\n", encoding="utf-8")
    return python


def python_output(python: Path, code: str, folder: Path | None = None) -> str:
    """What a Python program prints, run by the given interpreter (in folder, if given)."""
    command = [str(python), "-c", code]
    run = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=60, cwd=folder
    )
    return run.stdout.strip()


def problems(page: str, kind: str, found: list[str]) -> str:
    """A failure message naming the page and listing what is wrong with it."""
    return f"{page}.html: {len(found)} {kind}:\n  " + "\n  ".join(found)


@pytest.fixture(scope="session")
def published_book(book_build: Future) -> BookBuild:
    """The book assembled from the smoke-executed chapters and built once per session (started
    before the first test, conftest.py)."""
    return book_build.result()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Chromium (fmnist_lib.browser finds it), headless, driven by Playwright; fails if none."""
    try:
        executable = find_chromium()
    except BrowserError as error:
        pytest.fail(f"{error} (`make browser` does it as root)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def visit_pages(html: Path, pages: list[str], axe: Path | None, workers: int) -> dict[str, Visit]:
    """Each page of `pages` that the build wrote, visited (visit_page) on `workers` threads side
    by side, each thread with a Chromium of its own (Playwright's sync API is one per thread)."""
    written = [page for page in pages if page_file(html, page).is_file()]

    def visit_share(share: list[str]) -> dict[str, Visit]:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(find_chromium()), args=CHROMIUM_ARGS
            )
            try:
                return {
                    page: visit_page(chromium, page_file(html, page), axe, page) for page in share
                }
            finally:
                chromium.close()

    shares = [written[k::workers] for k in range(workers)]
    with ThreadPoolExecutor(workers, thread_name_prefix="page-visits") as pool:
        visited = pool.map(visit_share, shares)
        return {page: visit for done in visited for page, visit in done.items()}


def visit_book(book: BookBuild) -> tuple[dict[str, Visit], Path | None, str]:
    """Every page of PAGES that the build wrote, visited VISIT_WORKERS side by side, with
    axe-core's script where it could be had: (the visits, the script, why not)."""
    try:
        axe, problem = axe_script(), ""
    except AxeCoreError as error:
        axe, problem = None, str(error)
    return visit_pages(book.html, PAGES, axe, VISIT_WORKERS), axe, problem


@pytest.fixture(scope="session")
def visits(browser: Browser, published_book: BookBuild, page_visits: Future) -> Visits:
    """The pages of the built book, each opened once in Chromium, where axe-core checks them:
    all of them when the first test asks (conftest.py's page_visits)."""
    done, axe, problem = page_visits.result()
    return Visits(browser, published_book.html, axe=axe, axe_problem=problem, done=done)


def test_book_builds_without_sphinx_warnings(published_book):
    """jupyter-book builds the executed chapters with warnings as errors, printing no WARNING."""
    warnings = SPHINX_WARNING.findall(published_book.output)
    assert not warnings, f"the book build printed {len(warnings)} warnings:\n" + "\n".join(warnings)
    tail = published_book.output[-3000:]
    assert published_book.returncode == 0, f"jupyter-book build failed:\n{tail}"


def test_book_build_takes_every_chapter_from_the_cache(published_book):
    """Each executed chapter comes from the build's jupyter-cache; none is executed again."""
    output = published_book.output
    from_cache = {
        chapter for chapter in CHAPTERS if f"{chapter}.ipynb: Using cached notebook" in output
    }
    assert from_cache == set(CHAPTERS), f"not from the cache: {sorted(set(CHAPTERS) - from_cache)}"
    assert "Executing notebook" not in output


def test_included_files_resolve_in_the_assembled_book_as_in_the_project(tmp_path):
    """Every `literalinclude`/`include` path of a document names the same file in both places."""
    book = assemble_sources(tmp_path)
    includes = [
        (document, included)
        for document in DOCUMENTS
        for included in included_paths(ROOT / f"{document}.md")
    ]
    missing = [
        f"{document}: {included}"
        for document, included in includes
        if not resolve_include(ROOT, document, included).is_file()
        or not resolve_include(book, document, included).is_file()
        or resolve_include(book, document, included).resolve()
        != resolve_include(ROOT, document, included).resolve()
    ]
    assert not missing, "included files missing from the assembled book:\n" + "\n".join(missing)
    library = resolve_include(book, "notebooks/any", f"../{LIBRARY}/theory.py")
    assert library.resolve() == (ROOT / LIBRARY / "theory.py").resolve()


def test_execution_page_has_one_row_per_chapter_with_its_run_time(published_book):
    """book/execution.html tabulates each executed chapter once: a link, a time, a success."""
    html = page_file(published_book.html, EXECUTION_PAGE).read_text(encoding="utf-8")
    tables = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    assert len(tables) == 1, f"{EXECUTION_PAGE}.html: {len(tables)} tables, not one"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", tables[0], re.S)
    documents = [re.search(r'<span class="doc">([^<]+)</span>', row).group(1) for row in rows]
    assert sorted(documents) == sorted(f"notebooks/{chapter}" for chapter in CHAPTERS)
    for document, row in zip(documents, rows, strict=True):
        cells = re.findall(r"<td><p>(.*?)</p></td>", row, re.S)
        method, runtime, status = cells[-3:]
        assert method == "cache", f"{document}: method {method!r}"
        assert float(runtime) > 0, f"{document}: run time {runtime!r}"
        assert status == "✅", f"{document}: status {status!r}"


def test_every_built_page_is_checked(published_book):
    """The HTML pages of the build are exactly the toc's documents, index, genindex and search."""
    html = published_book.html
    built = {
        path.relative_to(html).with_suffix("").as_posix()
        for path in html.rglob("*.html")
        if path.relative_to(html).parts[0] != "_static"
    }
    assert built >= set(PAGES), f"pages not built: {sorted(set(PAGES) - built)}"
    assert built <= set(PAGES), f"pages built but not checked: {sorted(built - set(PAGES))}"


def test_index_opens_the_first_page(visits):
    """index.html, opened from disk, takes the reader to the toc's root document."""
    expected = page_file(visits.html, DOCUMENTS[0]).as_uri()
    assert visits("index").url == expected


@pytest.mark.parametrize("page", PAGES)
def test_page_logs_no_console_error(visits, page):
    """Opening the page logs no console error and throws no uncaught exception."""
    found = visits(page).console_errors
    assert not found, problems(page, "console errors", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_failed_request(visits, page):
    """Every file the page asks for (scripts, styles, fonts, images) loads from disk."""
    found = visits(page).failed_requests
    assert not found, problems(page, "failed requests", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_requests_nothing_off_the_machine(visits, page):
    """The page only requests file:, data: and about: URLs; nothing leaves the machine."""
    found = visits(page).outside_requests
    assert not found, problems(page, "requests off the machine (blocked)", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_every_image(visits, page):
    """Every <img> of the page is complete and has pixels (naturalWidth above 0)."""
    found = visits(page).broken_images
    assert not found, problems(page, "images that do not show", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_describes_every_image_in_words(visits, page):
    """Every <img> has alt text that says what it shows: not empty, not a path or file name."""
    found = [
        f"{Path(urlparse(src).path).name}: {reason}"
        for alt, src in visits(page).image_alts
        if (reason := undescribed_image(alt, src))
    ]
    assert not found, problems(page, "images without a description", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_meets_wcag_2_a_and_aa_in_both_modes(visits, page):
    """axe-core finds no violation of WCAG 2 levels A and AA, in light mode or in dark mode."""
    if visits.axe is None:
        pytest.fail(f"axe-core is needed for this test: {visits.axe_problem}")
    found = visits(page).accessibility
    assert not found, problems(page, "WCAG 2 A/AA violations found by axe-core", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_each_figure_in_a_light_and_a_dark_version(visits, page):
    """Every image of a cell's output is the `only-light` or `only-dark` version of a figure."""
    found = visits(page).unpaired_figures
    assert not found, problems(page, "figures without both versions", found)


@pytest.mark.parametrize("mode", MODES)
def test_text_in_a_figure_keeps_its_contrast_against_the_page(browser, published_book, mode):
    """In each mode the reader sees that mode's version of a figure, drawn on the page's own
    background (no white box in dark mode), with text of contrast 4.5:1 or more against it."""
    file = page_file(published_book.html, FIGURE_PAGE)
    shot = figure_shot(browser, file, FIGURE_ID, mode)
    assert not shot.hidden_version_shown, f"{mode} mode also shows the other mode's version"
    background = shot.background()
    gap = max(abs(a - b) for a, b in zip(background, shot.page_background, strict=True))
    assert gap <= BACKGROUND_TOLERANCE, (
        f"{mode} mode: the figure is drawn on {background}, the page is {shot.page_background}"
    )
    ratio = contrast(shot.text_colour(), shot.page_background)
    assert ratio >= TEXT_CONTRAST, (
        f"{mode} mode: text {shot.text_colour()} on the page {shot.page_background}: {ratio:.2f}:1"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_all_math(visits, page):
    """Once MathJax has started, every .math element holds a typeset mjx-container."""
    found = visits(page).unrendered_math
    assert not found, problems(page, "math elements not rendered", found)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_page_offers_its_source_for_download(visits, document):
    """The download button links to the document's own source under _sources/, which exists."""
    links = visits(document).download_links
    assert links, f"{document}.html: no download links in the header's download button"
    paths = [url_path(link).resolve() for link in links]
    missing = [str(path) for path in paths if not path.is_file()]
    assert not missing, problems(document, "download links to missing files", missing)
    source = (visits.html / "_sources" / document).resolve()
    own = [path for path in paths if path.with_suffix("") == source and path.suffix in SOURCES]
    assert own, f"{document}.html: no download link to _sources/{document}.md or .ipynb: {links}"


@pytest.mark.parametrize("width", FIT_WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_page_fits_its_equations_code_and_tables_in_the_column(visits, page, width):
    """With every collapsed part open, each display equation, code block and table is as wide
    as its box or narrower (scrollWidth against clientWidth), and the page as the window: no
    equation is cut off or scrolls, and nothing scrolls the page sideways. At phone width a code
    block may scroll in its own box, and a table in the box made to scroll it."""
    fits = visits(page).fit[width]
    found = [str(fit) for fit in fits if not fit.fits() and not fit.allowed_at(width)]
    assert not found, problems(page, f"things wider than their box at {width} px", found)


@pytest.mark.parametrize("page", PAGES)
def test_page_leaves_a_full_page_screenshot_at_each_width(visits, page):
    """The visit writes _build/screenshots/<page>-<width>.png, exactly as wide as the window."""
    visits(page)
    for width in FIT_WIDTHS:
        path = screenshot_path(page, width)
        assert path.is_file(), f"no screenshot {path}"
        with Image.open(path) as image:
            assert image.width == width, f"{path.name} is {image.width} px wide, not {width}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_offers_its_executed_notebook_which_installs_the_package(visits, chapter):
    """The download button offers the chapter as an executed, valid .ipynb whose first cell
    installs fmnist_lib, from the repository at the commit that built the book, where it is
    missing."""
    notebook = published_notebook(visits.html, chapter)
    links = [url_path(link).resolve() for link in visits(f"notebooks/{chapter}").download_links]
    assert notebook.resolve() in links, f"{chapter}: no download link to {notebook.name}"
    content = nbformat.read(notebook, as_version=4)
    nbformat.validate(content)
    first, *rest = content.cells
    assert first.metadata.get(INSTALL_CELL_KEY), f"{chapter}: the first cell installs nothing"
    source = f"https://github.com/{BUILD_REPOSITORY}@{BUILD_COMMIT}"
    assert f'%pip install --quiet "{PACKAGE} @ git+{source}"' in first.source
    code = [cell for cell in rest if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), "not executed"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_launches_on_binder_and_colab_from_the_published_notebook(visits, chapter):
    """Binder and Colab open notebooks/<chapter>.ipynb on the branch NOTEBOOKS_BRANCH, where the
    workflow pushes the built notebooks (tests/test_workflow.py ties the two), and it exists."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    launch = config["sphinx"]["config"]["html_theme_options"]["launch_buttons"]
    interface = {"classic": "tree", "jupyterlab": "lab/tree"}[launch["notebook_interface"]]
    path = f"notebooks/{chapter}.ipynb"
    branch = f"{BUILD_REPOSITORY}/{NOTEBOOKS_BRANCH}"
    expected = {
        f"{launch['binderhub_url']}/v2/gh/{branch}?urlpath={interface}/{path}",
        f"{launch['colab_url']}/github/{BUILD_REPOSITORY}/blob/{NOTEBOOKS_BRANCH}/{path}",
    }
    assert set(visits(f"notebooks/{chapter}").launch_links) == expected
    assert published_notebook(visits.html, chapter).is_file()


def test_a_downloaded_chapter_runs_on_its_own_in_a_fresh_environment(published_book, tmp_path):
    """A reader's copy of one chapter, alone in an empty folder, is valid and runs with papermill
    on its smoke parameters in a new virtual environment where fmnist_lib is an installed wheel
    of the checkout: nothing of the project's folder is needed."""
    reader = tmp_path / "reader"
    reader.mkdir()
    published = published_notebook(published_book.html, DOWNLOADED_CHAPTER)
    notebook = Path(shutil.copy(published, reader))
    nbformat.validate(nbformat.read(notebook, as_version=4))
    python = fresh_environment(tmp_path / "venv", tmp_path / "wheels")
    parameters = tmp_path / "parameters.yaml"
    parameters.write_text(yaml.safe_dump(smoke_parameters(DOWNLOADED_CHAPTER)), encoding="utf-8")
    command = [str(python), "-m", "papermill", str(notebook), str(reader / "run.ipynb")]
    command += ["-f", str(parameters), "-k", "python3", "--cwd", str(reader), "--no-progress-bar"]
    environment = {**os.environ, "FMNIST_RESULTS_DIR": str(tmp_path / "results")}
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=environment, check=False
    )
    assert run.returncode == 0, f"the downloaded {DOWNLOADED_CHAPTER} failed:\n{run.stderr[-3000:]}"
    where = python_output(python, f"import {PACKAGE}; print({PACKAGE}.__file__)", reader)
    assert Path(where).is_relative_to(tmp_path / "venv"), f"{PACKAGE} came from {where}"
