"""Every figure of the book in two versions: one for its light mode and one for its dark mode.

The book's theme shows an image of class `only-light` in light mode only, and one of class
`only-dark` in dark mode only. The light version is the figure as drawn, on white. The dark
version is the same figure on a transparent background, with what sits on the page (titles,
labels, ticks, spines, legends and lines drawn in black) in the colour of the dark page's text;
what the data paints (images, heatmaps and the numbers written on them, coloured lines and
markers) keeps its colours, so that a caption's "red", "blue" or "darker" holds in both modes.

A chapter calls `show_in_both_modes()` once: from then on, each figure the notebook displays
carries both versions under MIME_TYPE, beside the usual image/png that Jupyter shows. In the
book build, `LightDarkRenderer` (a myst-nb mime renderer, registered as an entry point in
pyproject.toml) puts the two versions on the page, each with the cell's `image` options (its
alt text, for one).
"""

import base64
import dataclasses
import functools
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

__all__ = [
    "DARK_PAGE",
    "DARK_TEXT",
    "MIME_TYPE",
    "MODES",
    "LightDarkRenderer",
    "figure_versions",
    "show_in_both_modes",
]

MIME_TYPE = "application/vnd.fmnist-book.figure+json"
MODES = ("light", "dark")
# The book theme's dark mode (sphinx-book-theme on pydata-sphinx-theme): the page's background
# and its text colour, as the browser computes them.
DARK_PAGE = "#121212"
DARK_TEXT = "#ced6dd"
# A colour this dark is ink on the page: the default black of text, ticks, spines and of the
# reference lines the chapters draw in "black".
INK_LEVEL = 0.25
HTML_BUILDERS = ("html", "dirhtml", "singlehtml")


def is_ink(colour: Any) -> bool:
    """True for a visible colour that is black or nearly so."""
    red, green, blue, alpha = to_rgba(colour)
    return alpha > 0 and max(red, green, blue) < INK_LEVEL


def _annotations(fig: Figure) -> set[int]:
    """The ids of the texts written on the data (`ax.texts`: a heatmap's numbers, for one)."""
    return {id(text) for ax in fig.axes for text in ax.texts}


def _recolour(artist: Any, prop: str, colour: str, undo: list[Callable[[], None]]) -> None:
    """Set one colour property of an artist when it is ink, remembering how to set it back."""
    old = getattr(artist, f"get_{prop}")()
    if isinstance(old, str) and old in {"none", "auto"}:
        return
    if is_ink(old):
        setter = getattr(artist, f"set_{prop}")
        setter(colour)
        undo.append(lambda: setter(old))


@contextmanager
def dark_version(fig: Figure) -> Iterator[Figure]:
    """Within the block, the figure's ink is DARK_TEXT and its legends sit on DARK_PAGE."""
    fig.draw_without_rendering()  # every tick exists now, so all of them are recoloured
    undo: list[Callable[[], None]] = []
    annotations = _annotations(fig)
    try:
        for text in fig.findobj(Text):
            if id(text) not in annotations:
                _recolour(text, "color", DARK_TEXT, undo)
        for line in fig.findobj(Line2D):
            for prop in ("color", "markeredgecolor", "markerfacecolor"):
                _recolour(line, prop, DARK_TEXT, undo)
        for patch in fig.findobj(Patch):
            _recolour(patch, "edgecolor", DARK_TEXT, undo)
        for legend in fig.findobj(Legend):
            frame = legend.get_frame()
            old = frame.get_facecolor()
            frame.set_facecolor(DARK_PAGE)
            undo.append(lambda frame=frame, old=old: frame.set_facecolor(old))
        yield fig
    finally:
        for step in reversed(undo):
            step()


def _png(fig: Figure, **savefig: Any) -> str:
    """The figure as a base64 PNG, cropped as Jupyter's inline backend crops it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight", **savefig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_versions(fig: Figure) -> dict[str, str]:
    """Both versions of a figure as base64 PNGs: {"light": on white, "dark": transparent}."""
    light = _png(fig, facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    with dark_version(fig):
        dark = _png(fig, transparent=True)
    return {"light": light, "dark": dark}


@functools.cache
def _formatter_class() -> type:
    """IPython's formatter for MIME_TYPE: both versions of a Figure, nothing for anything else.

    It checks the type itself instead of registering Figure with `for_type`, because the
    inline backend unregisters Figure from every formatter when it is (re)configured.
    """
    from IPython.core.formatters import JSONFormatter, catch_format_error
    from traitlets import Unicode

    class BothModesFormatter(JSONFormatter):
        format_type = Unicode(MIME_TYPE)

        @catch_format_error
        def __call__(self, obj: Any) -> dict[str, str] | None:
            if not self.enabled or not isinstance(obj, Figure):
                return None
            return figure_versions(obj)

    return BothModesFormatter


def show_in_both_modes() -> bool:
    """From now on, every figure this IPython kernel displays also carries both versions.

    Returns False, and does nothing, outside IPython (in a script, say).
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter
    if not isinstance(formatters.formatters.get(MIME_TYPE), _formatter_class()):
        formatters.formatters[MIME_TYPE] = _formatter_class()(parent=formatters)
    return True


class LightDarkRenderer:
    """myst-nb's renderer for MIME_TYPE: both versions of the figure, each for its mode.

    In the HTML builders MIME_TYPE comes first, before image/png. The two images sit in one
    container, so that the theme's rule hiding a caption after an `only-dark` image (meant
    for two separate figures) leaves the figure's caption alone.
    """

    mime_priority_overrides: ClassVar = [(builder, MIME_TYPE, 0) for builder in HTML_BUILDERS]

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list | None:
        """The container of both images for MIME_TYPE outputs; None (not ours) otherwise."""
        if inline or data.mime_type != MIME_TYPE:
            return None
        from docutils import nodes

        pair = nodes.container(classes=["light-dark-figure"])
        for mode in MODES:
            version = dataclasses.replace(data, mime_type="image/png", content=data.content[mode])
            for image in renderer.render_image(version):
                image["classes"].append(f"only-{mode}")
                pair += image
        return [pair]
