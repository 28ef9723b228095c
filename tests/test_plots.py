import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fmnist_lib.plots import (
    plot_class_means,
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_misclassified,
    plot_samples,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_training_and_validation_curves_per_metric():
    history = pd.DataFrame(
        {
            "loss": [1.0, 0.5],
            "accuracy": [0.6, 0.8],
            "val_loss": [1.1, 0.7],
            "val_accuracy": [0.55, 0.75],
        },
        index=pd.Index([1, 2], name="epoch"),
    )
    fig = plot_history(history)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training", "validation"]
    assert acc_ax.lines[1].get_ydata().tolist() == [0.55, 0.75]


def test_plot_confusion_labels_rows_as_true_and_columns_as_predicted():
    fig = plot_confusion(np.eye(10, dtype=int) * 5)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "true label" and ax.get_xlabel() == "predicted label"
    assert ax.get_xticklabels()[0].get_text() == "T-shirt/top"


def test_plot_samples_draws_one_row_per_class():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(10), 4)
    fig = plot_samples(x, y, per_class=3)
    assert len(fig.axes) == 30
    assert sum(len(ax.images) for ax in fig.axes) == 30


def test_plot_class_means_draws_a_titled_panel_per_class():
    fig = plot_class_means(np.zeros((10, 28, 28)))
    assert [ax.get_title() for ax in fig.axes][-1] == "Ankle boot"


def test_plot_misclassified_titles_each_image_with_true_predicted_and_confidence():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    fig = plot_misclassified(
        images, np.array([0, 6, 2]), np.array([6, 0, 4]), np.array([0.9, 0.55, 0.7]), ncols=2
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "T-shirt/top\n→ Shirt (90.0%)"
    assert len(titles) == 3 and len(fig.axes) == 4


def test_plot_filters_draws_one_panel_per_kernel():
    fig = plot_filters(np.random.default_rng(0).normal(size=(3, 3, 1, 16)))
    assert sum(len(ax.images) for ax in fig.axes) == 16
    with pytest.raises(ValueError, match="kh, kw, 1, n"):
        plot_filters(np.zeros((3, 3, 2, 4)))


def test_plot_feature_maps_draws_one_panel_per_channel():
    fig = plot_feature_maps(np.zeros((14, 14, 10)))
    assert sum(len(ax.images) for ax in fig.axes) == 10


def test_figures_with_captions_in_the_book_draw_no_title_of_their_own():
    history = pd.DataFrame({"loss": [1.0], "accuracy": [0.5]})
    figures = [
        plot_history(history),
        plot_confusion(np.eye(10, dtype=int)),
        plot_feature_maps(np.zeros((7, 7, 3))),
    ]
    for fig in figures:
        assert fig._suptitle is None or not fig._suptitle.get_text()
        assert all(not ax.get_title() for ax in fig.axes)


def test_plot_input_gradient_outlines_the_theoretical_field_and_has_no_title():
    from fmnist_lib.plots import plot_input_gradient

    magnitude = np.zeros((28, 28))
    magnitude[10:16, 11:17] = 1.0
    fig = plot_input_gradient(magnitude, (5, 5, 18))
    ax = fig.axes[0]
    (square,) = ax.patches
    assert (square.get_x(), square.get_y(), square.get_width()) == (4.5, 4.5, 18)
    assert ax.images[0].get_array().shape == (28, 28) and not ax.get_title()
    with pytest.raises(ValueError, match="magnitude"):
        plot_input_gradient(np.zeros(28), (5, 5, 18))


def test_plot_seed_strips_draws_a_dot_per_run_an_interval_and_the_report_per_model():
    from fmnist_lib import plots

    per_seed = pd.DataFrame(
        [
            {"model": m, "quantity": q, "value": v}
            for m in ("a", "b")
            for q in ("loss", "accuracy")
            for v in (0.1, 0.2, 0.3)
        ]
    )
    summary = pd.DataFrame(
        [
            {"model": m, "quantity": q, "report": 0.25, "low": 0.0, "high": 0.4}
            for m in ("a", "b")
            for q in ("loss", "accuracy")
        ]
    ).set_index(["model", "quantity"])
    fig = plots.plot_seed_strips(per_seed, summary)
    assert [ax.get_xlabel() for ax in fig.axes] == ["loss", "accuracy"]
    for ax in fig.axes:
        dots = [line for line in ax.lines if line.get_marker() == "o"]
        crosses = [line for line in ax.lines if line.get_marker() == "x"]
        assert [len(line.get_ydata()) for line in dots] == [3, 3]
        assert [float(line.get_ydata()[0]) for line in crosses] == [0.25, 0.25]
        assert len(ax.collections) == 2  # one interval bar per model
        assert not ax.get_title()


def test_plot_confusion_difference_is_centred_and_checks_its_shape():
    from fmnist_lib import plots

    difference = np.zeros((10, 10))
    difference[0, 6] = 12.5
    difference[6, 0] = -3.0
    fig = plots.plot_confusion_difference(difference)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_clim() == (-12.5, 12.5)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "12.5" in texts and "-3.0" in texts
    with pytest.raises(ValueError, match="10 x 10"):
        plots.plot_confusion_difference(np.zeros((3, 3)))


def test_plot_reliability_draws_the_diagonal_and_each_tables_filled_bins_without_a_title():
    from fmnist_lib import plots

    table = pd.DataFrame(
        {
            "count": [0, 3, 7],
            "confidence": [np.nan, 0.55, 0.9],
            "accuracy": [np.nan, 0.5, 0.8],
        }
    )
    scaled = table.assign(confidence=[np.nan, 0.5, 0.82])
    fig = plots.plot_reliability(table, scaled)
    ax = fig.axes[0]
    diagonal, trained, tempered = ax.lines
    assert diagonal.get_xydata().tolist() == [[0, 0], [1, 1]]
    assert trained.get_xydata().tolist() == [[0.55, 0.5], [0.9, 0.8]]  # the empty bin left out
    assert tempered.get_xdata().tolist() == [0.5, 0.82]
    assert [t.get_text() for t in ax.get_legend().get_texts()][1:] == [
        "as trained",
        "temperature scaled",
    ]
    assert not ax.get_title() and len(plots.plot_reliability(table).axes[0].lines) == 2
    with pytest.raises(ValueError, match="scaled must be a reliability table"):
        plots.plot_reliability(table, table.drop(columns="accuracy"))


def test_plot_time_to_accuracy_draws_a_line_per_run_against_cumulative_minutes():
    from fmnist_lib.plots import plot_time_to_accuracy

    history = pd.DataFrame({"time_s": [60.0, 60.0, 120.0], "val_accuracy": [0.8, 0.85, 0.9]})
    figure = plot_time_to_accuracy({"a": [history, history], "b": [history]})
    (ax,) = figure.axes
    assert len(ax.lines) == 3
    assert ax.lines[0].get_xdata().tolist() == [1.0, 2.0, 4.0]
    assert ax.lines[0].get_ydata().tolist() == pytest.approx([80, 85, 90])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_title() == ""
    with pytest.raises(ValueError, match="time_s"):
        plot_time_to_accuracy({"a": [history.drop(columns="time_s")]})
