import numpy as np

from fmnist_lib.image_stats import class_counts, class_means, mean_distances, pixel_statistics


def test_class_counts_includes_empty_classes_in_label_order():
    counts = class_counts(np.array([1, 1, 9]))
    assert counts.tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert counts.index[9] == "Ankle boot"


def test_class_means_averages_each_class_separately():
    x = np.array([[[0, 2]], [[4, 6]], [[10, 10]]], dtype=np.uint8)
    means = class_means(x, np.array([0, 0, 1]), n_classes=2)
    assert means.tolist() == [[[2.0, 4.0]], [[10.0, 10.0]]]


def test_pixel_statistics_counts_zero_and_saturated_pixels():
    stats = pixel_statistics(np.array([0, 0, 255, 1], dtype=np.uint8))
    assert stats["zero_fraction"] == 0.5 and stats["saturated_fraction"] == 0.25
    assert stats["mean"] == 64.0


def test_mean_distances_is_symmetric_euclidean_with_zero_diagonal():
    means = np.array([[[0.0, 0.0]], [[3.0, 4.0]]])
    d = mean_distances(means)
    assert d.tolist() == [[0.0, 5.0], [5.0, 0.0]]
