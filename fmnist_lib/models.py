"""The report's two networks, built with Keras 3, and the registry of their training settings.

Beside the report's two models, the registry holds the variants that test the report's tuning
claims (Sec. III): each differs from its report model in one named way, and `variant_of` names
that model.
"""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import keras

from fmnist_lib.data import IMAGE_SHAPE, N_CLASSES
from fmnist_lib.validation import check_scalar


@dataclass(frozen=True)
class Recipe:
    """How a model trains when not as the report did: AdamW with a linear warm-up and a cosine
    decay of the learning rate, label smoothing, and optionally a weight EMA.

    The registry's `learning_rate` is the peak that the warm-up reaches. With `ema_momentum`
    set, the final weights are the exponential moving average of the weights (Keras's
    `use_ema`); the validation scores during training and the best epoch's saved weights are the
    raw weights'.
    """

    weight_decay: float = 5e-4
    warmup_fraction: float = 0.05
    label_smoothing: float = 0.1
    ema_momentum: float | None = None
    cosine: bool = True  # False: the learning rate stays at its peak after the warm-up

    def __post_init__(self) -> None:
        if not isinstance(self.cosine, bool):
            raise ValueError(f"cosine must be True or False, got {self.cosine!r}")
        check_scalar(self.weight_decay, "weight_decay", float, min_val=0.0)
        check_scalar(self.warmup_fraction, "warmup_fraction", float, min_val=0.0, max_val=0.5)
        check_scalar(
            self.label_smoothing,
            "label_smoothing",
            float,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="left",
        )
        check_scalar(
            self.ema_momentum,
            "ema_momentum",
            float,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="neither",
            allow_none=True,
        )


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its builder and the training settings the report used for it."""

    name: str
    build: Callable[[], keras.Model]
    learning_rate: float
    epochs: int
    batch_size: int
    description: str
    variant_of: str | None = None  # the report model this one changes in one way, if any
    # Functions `build` calls whose code also identifies the model in the cache key.
    parts: tuple[Callable, ...] = ()
    recipe: Recipe | None = None  # None: the report's Adam and cross-entropy


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


# Equal widths with the pyramid's parameter count: 2w^2 + 797w + 10 = 550,385 gives w = 362.
EQUAL_WIDTH = 362


def build_mlp_equal_widths() -> keras.Model:
    """The report's MLP with three equal hidden layers of about its parameter count."""
    return dense_stack((EQUAL_WIDTH,) * 3, 1e-5, "mlp_equal_widths")


def build_mlp_l2_1e4() -> keras.Model:
    """The report's MLP with a ten times larger L2 factor, 1e-4."""
    return dense_stack((500, 250, 125), 1e-4, "mlp_l2_1e4")


def build_cnn_constant_filters() -> keras.Model:
    """The report's CNN with 32 filters in each convolution instead of 16, 32, 64."""
    return conv_stack((32, 32, 32), "cnn_constant_filters")


@dataclass(frozen=True)
class CNNDesign:
    """The modern CNN's ingredients, each of which an ablation can take away: VGG-style blocks of
    two 3x3 convolutions (`widths` filters), optional BatchNorm, dropout and augmentation."""

    widths: tuple[int, ...] = (32, 64)
    batch_norm: bool = True
    dropout: float = 0.25  # after each block; the Dense head's is 0.3 when this is non-zero
    shift_px: int = 2  # random translation by up to this many pixels; 0: none
    flip: bool = True  # random left-right mirroring
    erase: bool = False  # random erasing of a rectangle (Zhong et al. 2020)

    def __post_init__(self) -> None:
        if not self.widths or not all(isinstance(w, int) and w > 0 for w in self.widths):
            raise ValueError(f"widths must be positive integers, got {self.widths!r}")
        check_scalar(
            self.dropout, "dropout", float, min_val=0.0, max_val=1.0, include_boundaries="left"
        )
        check_scalar(self.shift_px, "shift_px", int, min_val=0, max_val=IMAGE_SHAPE[0] // 2)
        for name in ("batch_norm", "flip", "erase"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


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


# The registry names, defined once: the CLI, the experiments and the chapters import them.
SEED_MLP = "seed-mlp"
SEED_CNN = "seed-cnn"
MLP_EQUAL_WIDTHS = "mlp-equal-widths"
MLP_L2_1E4 = "mlp-l2-1e-4"
CNN_CONSTANT_FILTERS = "cnn-constant-filters"
MODERN_CNN = "modern-cnn"
# The modern CNN with one ingredient taken away (or, for erasing, added): the ablations.
MODERN_ABLATIONS = MappingProxyType(
    {
        "modern-cnn-no-batchnorm": ("without BatchNorm", {"batch_norm": False}, {}),
        "modern-cnn-no-dropout": ("without dropout", {"dropout": 0.0}, {}),
        "modern-cnn-no-shift": ("without random shifts", {"shift_px": 0}, {}),
        "modern-cnn-no-flip": ("without random flips", {"flip": False}, {}),
        "modern-cnn-erasing": ("with random erasing added", {"erase": True}, {}),
        "modern-cnn-no-smoothing": ("without label smoothing", {}, {"label_smoothing": 0.0}),
        "modern-cnn-constant-lr": (
            "with a constant learning rate, no cosine",
            {},
            {"cosine": False},
        ),
    }
)

_SEED_MLP_SPEC = ModelSpec(
    name=SEED_MLP,
    build=build_seed_mlp,
    learning_rate=1e-4,
    epochs=20,
    batch_size=32,
    description="the report's fully connected network (Part I)",
)
_SEED_CNN_SPEC = ModelSpec(
    name=SEED_CNN,
    build=build_seed_cnn,
    learning_rate=1e-3,
    epochs=10,
    batch_size=32,
    description="the report's convolutional network (Part II)",
)


def _variant(
    report: ModelSpec,
    name: str,
    build: Callable[[], keras.Model],
    description: str,
    parts: tuple[Callable, ...],
) -> ModelSpec:
    """A variant of a report model: another builder, the report model's training settings."""
    return dataclasses.replace(
        report,
        name=name,
        build=build,
        description=description,
        variant_of=report.name,
        parts=parts,
    )


def _modern_spec(name: str, description: str, design: CNNDesign, recipe: Recipe) -> ModelSpec:
    """A member of the modern CNN's family: its design and recipe, its training budget."""
    return ModelSpec(
        name=name,
        build=functools.partial(build_modern_cnn, design),
        learning_rate=3e-3,
        epochs=20,
        batch_size=128,
        description=description,
        variant_of=None if name == MODERN_CNN else MODERN_CNN,
        parts=(augmentation_layers,),
        recipe=recipe,
    )


_MODERN_SPECS = (
    _modern_spec(
        MODERN_CNN,
        "a small VGG-style CNN with augmentation, BatchNorm, AdamW and a cosine schedule",
        CNNDesign(),
        Recipe(),
    ),
    *(
        _modern_spec(
            name,
            f"the modern CNN {what}",
            dataclasses.replace(CNNDesign(), **design),
            dataclasses.replace(Recipe(), **recipe),
        )
        for name, (what, design, recipe) in MODERN_ABLATIONS.items()
    ),
)


MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        SEED_MLP: _SEED_MLP_SPEC,
        SEED_CNN: _SEED_CNN_SPEC,
        MLP_EQUAL_WIDTHS: _variant(
            _SEED_MLP_SPEC,
            MLP_EQUAL_WIDTHS,
            build_mlp_equal_widths,
            "the report's MLP with equal widths 362-362-362 instead of a pyramid",
            (dense_stack,),
        ),
        MLP_L2_1E4: _variant(
            _SEED_MLP_SPEC,
            MLP_L2_1E4,
            build_mlp_l2_1e4,
            "the report's MLP with L2 factor 1e-4 instead of 1e-5",
            (dense_stack,),
        ),
        CNN_CONSTANT_FILTERS: _variant(
            _SEED_CNN_SPEC,
            CNN_CONSTANT_FILTERS,
            build_cnn_constant_filters,
            "the report's CNN with 32-32-32 filters instead of 16-32-64",
            (conv_stack,),
        ),
        **{spec.name: spec for spec in _MODERN_SPECS},
    }
)


def get_model_spec(name: str) -> ModelSpec:
    """Look a model up by its registry name, with an error that lists the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; choose one of: {known}") from None


def report_model_names() -> tuple[str, ...]:
    """The registry names of the report's own models, without the variants and newer models."""
    return tuple(
        name for name, spec in MODELS.items() if spec.variant_of is None and spec.recipe is None
    )
