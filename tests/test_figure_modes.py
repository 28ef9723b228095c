"""figure_modes: each figure drawn in a light and a dark version, and both put on the page."""

import base64
import io
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from fmnist_lib import figure_modes, plots
from fmnist_lib.figure_modes import DARK_PAGE, DARK_TEXT, MIME_TYPE


@pytest.fixture
def line_chart():
    """A line chart with a title, a legend, a blue line and a black reference line."""
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 2, 3], color="tab:blue", label="data")
    ax.axhline(2, color="black", linestyle="--", label="reference")
    ax.set(title="a title", xlabel="x")
    ax.legend()
    yield fig
    plt.close(fig)


def png(data: str) -> Image.Image:
    """A base64 PNG as an RGBA image."""
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA")


def colours(fig) -> dict[str, str]:
    """The colours of the parts of the first axes that the dark version changes."""
    ax = fig.axes[0]
    return {
        "title": to_hex(ax.title.get_color()),
        "label": to_hex(ax.xaxis.label.get_color()),
        "tick": to_hex(ax.get_xticklabels()[0].get_color()),
        "spine": to_hex(ax.spines["left"].get_edgecolor()),
        "data line": to_hex(ax.lines[0].get_color()),
        "reference line": to_hex(ax.lines[1].get_color()),
        "legend text": to_hex(ax.get_legend().get_texts()[0].get_color()),
        "legend frame": to_hex(ax.get_legend().get_frame().get_facecolor()),
    }


def test_dark_version_recolours_what_sits_on_the_page_and_sets_it_back(line_chart):
    before = colours(line_chart)
    with figure_modes.dark_version(line_chart):
        dark = colours(line_chart)
    ink = ["title", "label", "tick", "spine", "reference line", "legend text"]
    assert {part: dark[part] for part in ink} == dict.fromkeys(ink, DARK_TEXT)
    assert dark["data line"] == before["data line"] == to_hex("tab:blue")
    assert dark["legend frame"] == DARK_PAGE
    assert colours(line_chart) == before


def test_dark_version_keeps_the_numbers_written_on_a_heatmap():
    fig = plots.plot_confusion(np.array([[5, 0], [1, 4]]), class_names=("a", "b"))
    numbers = [to_hex(text.get_color()) for text in fig.axes[0].texts]
    with figure_modes.dark_version(fig):
        assert [to_hex(text.get_color()) for text in fig.axes[0].texts] == numbers
        assert to_hex(fig.axes[0].xaxis.label.get_color()) == DARK_TEXT
    plt.close(fig)


def test_versions_are_a_light_png_on_white_and_a_transparent_dark_png(line_chart):
    versions = figure_modes.figure_versions(line_chart)
    light, dark = png(versions["light"]), png(versions["dark"])
    assert light.size == dark.size
    assert light.getpixel((1, 1)) == (255, 255, 255, 255)
    assert dark.getpixel((1, 1))[3] == 0
    # The dark version's text is drawn in DARK_TEXT somewhere: its exact colour, fully opaque.
    red, green, blue = (int(DARK_TEXT[i : i + 2], 16) for i in (1, 3, 5))
    assert [red, green, blue, 255] in np.asarray(dark).reshape(-1, 4).tolist()


def test_formatter_gives_both_versions_of_a_figure_and_nothing_for_other_objects(line_chart):
    formatter = figure_modes._formatter_class()()
    assert formatter.format_type == MIME_TYPE
    assert set(formatter(line_chart)) == {"light", "dark"}
    assert formatter("not a figure") is None


def test_show_in_both_modes_does_nothing_outside_ipython(monkeypatch):
    import IPython

    # Other tests run chapter cells in an in-process IPython shell; this one asks for none.
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert figure_modes.show_in_both_modes() is False


def test_renderer_puts_each_version_in_the_page_for_its_mode():
    from docutils import nodes
    from myst_nb.core.render import MimeData

    rendered = []

    def render_image(data):
        rendered.append((data.mime_type, data.content, data.cell_metadata))
        return [nodes.image(uri=f"{data.content}.png", alt=data.cell_metadata["image"]["alt"])]

    renderer = SimpleNamespace(render_image=render_image)
    metadata = {"image": {"alt": "a chart"}}
    data = MimeData(MIME_TYPE, {"light": "L", "dark": "D"}, cell_metadata=metadata)
    (pair,) = figure_modes.LightDarkRenderer.handle_mime(renderer, data, inline=False)
    assert "light-dark-figure" in pair["classes"]
    assert [(image["uri"], image["classes"], image["alt"]) for image in pair.children] == [
        ("L.png", ["only-light"], "a chart"),
        ("D.png", ["only-dark"], "a chart"),
    ]
    assert rendered == [("image/png", "L", metadata), ("image/png", "D", metadata)]
    assert figure_modes.LightDarkRenderer.handle_mime(renderer, data, inline=True) is None
    other = MimeData("image/png", "abc")
    assert figure_modes.LightDarkRenderer.handle_mime(renderer, other, inline=False) is None
