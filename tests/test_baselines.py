import numpy as np
import pytest

from fmnist_lib import baselines
from fmnist_lib.baselines import BaselineConfig, make_classifier, run_baseline
from fmnist_lib.data import load_fashion_mnist


def test_baseline_config_rejects_unknown_names_and_bad_subsets():
    with pytest.raises(ValueError, match="unknown baseline"):
        BaselineConfig("svm")
    with pytest.raises(ValueError, match="train_subset"):
        BaselineConfig("random-forest", train_subset=5)


def test_a_baseline_config_is_a_cache_entry_config_with_its_key_files_and_label():
    config = BaselineConfig("random-forest", seed=3, train_subset=600)
    assert config.key() == baselines.baseline_key(config)
    assert config.entry_files == baselines.ENTRY_FILES
    assert config.label() == "baseline random-forest, seed 3, 600 images"
    assert BaselineConfig("logistic-regression").label() == "baseline logistic-regression, seed 0"


def test_classifiers_are_seeded():
    assert make_classifier(BaselineConfig("random-forest", seed=4)).random_state == 4
    assert make_classifier(BaselineConfig("logistic-regression", seed=2)).random_state == 2


@pytest.mark.parametrize("name", baselines.BASELINES)
def test_baseline_fits_once_and_its_predictions_give_its_accuracy(
    name, tmp_path, real_data_dir, monkeypatch
):
    config = BaselineConfig(name, train_subset=600)
    first = run_baseline(config, cache_dir=tmp_path)
    _, (_, y_test) = load_fashion_mnist(real_data_dir)
    assert not first.from_cache
    assert first.test_predictions.shape == (10_000,)
    assert first.test_accuracy == pytest.approx(np.mean(first.test_predictions == y_test))
    assert 0.5 < first.test_accuracy < 1.0  # far above the 10% of chance, even on 600 images
    assert first.metrics["n_train"] == 600 and first.fit_time_s > 0

    monkeypatch.setattr(baselines, "fit_into", lambda *a: pytest.fail("fitted again"))
    second = run_baseline(config, cache_dir=tmp_path)
    assert second.from_cache and second.test_accuracy == first.test_accuracy
