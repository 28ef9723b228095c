"""The report's two networks, built with Keras 3, and the registry of their training settings."""

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import keras

from fmnist_lib.data import IMAGE_SHAPE, N_CLASSES


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its builder and the training settings the report used for it."""

    name: str
    build: Callable[[], keras.Model]
    learning_rate: float
    epochs: int
    batch_size: int
    description: str


def build_seed_mlp() -> keras.Model:
    """The report's MLP: 784 -> 500 -> 250 -> 125 -> 10, ReLU, L2 1e-5 on every Dense kernel."""
    l2 = keras.regularizers.L2(1e-5)
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(500, activation="relu", kernel_regularizer=l2),
            keras.layers.Dense(250, activation="relu", kernel_regularizer=l2),
            keras.layers.Dense(125, activation="relu", kernel_regularizer=l2),
            # The report applied the same L2 penalty to the softmax layer as well.
            keras.layers.Dense(N_CLASSES, activation="softmax", kernel_regularizer=l2),
        ],
        name="seed_mlp",
    )


def build_seed_cnn() -> keras.Model:
    """The report's CNN: three 3x3 'same' convolutions (16, 32, 64) with pooling, Dense 64, 10."""
    l2 = keras.regularizers.L2(1e-4)
    return keras.Sequential(
        [
            keras.Input(shape=(*IMAGE_SHAPE, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", kernel_regularizer=l2),
            keras.layers.Dense(N_CLASSES, activation="softmax", kernel_regularizer=l2),
        ],
        name="seed_cnn",
    )


# The registry names, defined once: the CLI, the experiments and the chapters import them.
SEED_MLP = "seed-mlp"
SEED_CNN = "seed-cnn"

MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        SEED_MLP: ModelSpec(
            name=SEED_MLP,
            build=build_seed_mlp,
            learning_rate=1e-4,
            epochs=20,
            batch_size=32,
            description="the report's fully connected network (Part I)",
        ),
        SEED_CNN: ModelSpec(
            name=SEED_CNN,
            build=build_seed_cnn,
            learning_rate=1e-3,
            epochs=10,
            batch_size=32,
            description="the report's convolutional network (Part II)",
        ),
    }
)


def get_model_spec(name: str) -> ModelSpec:
    """Look a model up by its registry name, with an error that lists the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; choose one of: {known}") from None
