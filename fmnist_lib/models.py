"""The Keras builders of the registered models: what `fmnist_lib.registry` names, built.

Each registered model has one builder, which `builder` finds from its `ModelSpec`: the report's
two networks and their variants each have a function of their own, and the modern CNN's family
shares `build_modern_cnn`, given the spec's `design`. A run's cache key hashes the source code
of its builder and of the functions it calls (`builder_code`). Training, bundles and bench
import this module, as do the chapters that show a network; the rest read the registry.
"""

import functools
from collections.abc import Callable
from types import MappingProxyType

import keras

from fmnist_lib.data import IMAGE_SHAPE, N_CLASSES
from fmnist_lib.registry import (
    CNN_CONSTANT_FILTERS,
    EQUAL_WIDTH,
    MLP_EQUAL_WIDTHS,
    MLP_L2_1E4,
    SEED_CNN,
    SEED_MLP,
    CNNDesign,
    ModelSpec,
)


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


def dense_stack(widths: tuple[int, ...], l2: float, name: str) -> keras.Model:
    """An MLP laid out like the report's: Flatten, ReLU Dense `widths`, softmax; L2 on all."""
    penalty = keras.regularizers.L2(l2)
    hidden = [keras.layers.Dense(w, activation="relu", kernel_regularizer=penalty) for w in widths]
    output = keras.layers.Dense(N_CLASSES, activation="softmax", kernel_regularizer=penalty)
    return keras.Sequential(
        [keras.Input(shape=IMAGE_SHAPE), keras.layers.Flatten(), *hidden, output], name=name
    )


def conv_stack(filters: tuple[int, int, int], name: str) -> keras.Model:
    """A CNN laid out like the report's (three 3x3 convolutions, two poolings) with `filters`."""
    l2 = keras.regularizers.L2(1e-4)
    first, second, third = filters
    return keras.Sequential(
        [
            keras.Input(shape=(*IMAGE_SHAPE, 1)),
            keras.layers.Conv2D(first, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(second, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(third, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", kernel_regularizer=l2),
            keras.layers.Dense(N_CLASSES, activation="softmax", kernel_regularizer=l2),
        ],
        name=name,
    )


def build_mlp_equal_widths() -> keras.Model:
    """The report's MLP with three equal hidden layers of about its parameter count."""
    return dense_stack((EQUAL_WIDTH,) * 3, 1e-5, "mlp_equal_widths")


def build_mlp_l2_1e4() -> keras.Model:
    """The report's MLP with a ten times larger L2 factor, 1e-4."""
    return dense_stack((500, 250, 125), 1e-4, "mlp_l2_1e4")


def build_cnn_constant_filters() -> keras.Model:
    """The report's CNN with 32 filters in each convolution instead of 16, 32, 64."""
    return conv_stack((32, 32, 32), "cnn_constant_filters")


def augmentation_layers(design: CNNDesign) -> list[keras.layers.Layer]:
    """The design's random augmentation, as Keras layers that act in training only."""
    layers: list[keras.layers.Layer] = []
    if design.shift_px:
        factor = design.shift_px / IMAGE_SHAPE[0]
        layers.append(keras.layers.RandomTranslation(factor, factor, fill_mode="constant"))
    if design.flip:
        layers.append(keras.layers.RandomFlip("horizontal"))
    if design.erase:
        layers.append(
            keras.layers.RandomErasing(
                factor=0.5, scale=(0.02, 0.2), fill_value=0.0, value_range=(0.0, 1.0)
            )
        )
    return layers


def build_modern_cnn(design: CNNDesign = CNNDesign()) -> keras.Model:
    """A small VGG-style CNN past the report: augmentation, blocks of two 3x3 convolutions with
    BatchNorm and ReLU, max pooling and dropout, a Dense 256 head; mixed bfloat16 arithmetic,
    float32 softmax."""
    policy = "mixed_bfloat16"

    def conv_unit(filters: int) -> list[keras.layers.Layer]:
        conv = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=not design.batch_norm, dtype=policy
        )
        norm = [keras.layers.BatchNormalization(dtype=policy)] if design.batch_norm else []
        return [conv, *norm, keras.layers.ReLU(dtype=policy)]

    layers = [keras.Input(shape=(*IMAGE_SHAPE, 1)), *augmentation_layers(design)]
    for filters in design.widths:
        layers += [
            *conv_unit(filters),
            *conv_unit(filters),
            keras.layers.MaxPooling2D(2, dtype=policy),
        ]
        layers += [keras.layers.Dropout(design.dropout)] if design.dropout else []
    head = keras.layers.Dense(256, use_bias=not design.batch_norm, dtype=policy)
    layers += [keras.layers.Flatten(dtype=policy), head]
    layers += [keras.layers.BatchNormalization(dtype=policy)] if design.batch_norm else []
    layers += [keras.layers.ReLU(dtype=policy)]
    layers += [keras.layers.Dropout(0.3)] if design.dropout else []
    layers += [keras.layers.Dense(N_CLASSES, activation="softmax", dtype="float32")]
    return keras.Sequential(layers, name="modern_cnn")


# The builder of each registered model outside the modern CNN's family, whose members are all
# built by `build_modern_cnn` from their `design`.
_BUILDERS: MappingProxyType[str, Callable[[], keras.Model]] = MappingProxyType(
    {
        SEED_MLP: build_seed_mlp,
        SEED_CNN: build_seed_cnn,
        MLP_EQUAL_WIDTHS: build_mlp_equal_widths,
        MLP_L2_1E4: build_mlp_l2_1e4,
        CNN_CONSTANT_FILTERS: build_cnn_constant_filters,
    }
)
# Functions a builder calls whose code also identifies its model in the cache key. The report's
# models have none, so the keys of their runs are those of their builders alone.
_PARTS: MappingProxyType[str, tuple[Callable, ...]] = MappingProxyType(
    {
        MLP_EQUAL_WIDTHS: (dense_stack,),
        MLP_L2_1E4: (dense_stack,),
        CNN_CONSTANT_FILTERS: (conv_stack,),
    }
)


def builder(spec: ModelSpec) -> Callable[[], keras.Model]:
    """The function that builds `spec`'s model: its own, or `build_modern_cnn` given its design."""
    if spec.design is not None:
        return functools.partial(build_modern_cnn, spec.design)
    if spec.name not in _BUILDERS:
        raise ValueError(f"no builder for model {spec.name!r}; register one in fmnist_lib.models")
    return _BUILDERS[spec.name]


def builder_code(spec: ModelSpec) -> tuple[Callable, ...]:
    """The builder of `spec` and the functions it calls: the code its runs' cache keys hash."""
    parts = (augmentation_layers,) if spec.design is not None else _PARTS.get(spec.name, ())
    return (builder(spec), *parts)


def build_model(spec: ModelSpec) -> keras.Model:
    """A new, untrained Keras model of `spec`."""
    return builder(spec)()
