"""The model registry: each model's name, what it is and how it trains, without TensorFlow.

A `ModelSpec` says what a model is (the shape of its input, the arithmetic it is registered in,
and for the modern CNN's family its `CNNDesign`) and how it trains (learning rate, epochs, batch
size and, past the report, a `Recipe`). `fmnist_lib.models` builds the Keras model of a spec;
this module imports neither TensorFlow nor Keras, so the command line, the shards and the
chapters read the registry at once.

Beside the report's two models, the registry holds the variants that test the report's tuning
claims (Sec. III): each differs from its report model in one named way, and `variant_of` names
that model. The modern CNN's ablations (`MODERN_ABLATIONS`) each take one of its ingredients
away, or add one.
"""

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

from fmnist_lib.data import IMAGE_SHAPE
from fmnist_lib.precision import PRECISIONS
from fmnist_lib.validation import check_flag, check_scalar

# The registry names, defined once: the CLI, the experiments and the chapters import them.
SEED_MLP = "seed-mlp"
SEED_CNN = "seed-cnn"
MLP_EQUAL_WIDTHS = "mlp-equal-widths"
MLP_L2_1E4 = "mlp-l2-1e-4"
CNN_CONSTANT_FILTERS = "cnn-constant-filters"
MODERN_CNN = "modern-cnn"
MODERN_CNN_NO_BATCHNORM = "modern-cnn-no-batchnorm"

# One image as a model takes it: the MLPs flatten a 28x28 image themselves, the CNNs read one
# channel.
MLP_INPUT_SHAPE = IMAGE_SHAPE
CNN_INPUT_SHAPE = (*IMAGE_SHAPE, 1)

# Equal widths with the pyramid's parameter count: 2w^2 + 797w + 10 = 550,385 gives w = 362.
EQUAL_WIDTH = 362


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
        check_flag(self.cosine, "cosine")
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
            check_flag(getattr(self, name), name)


@dataclass(frozen=True)
class ModelSpec:
    """A named model: what it is, and the training settings the report (or a recipe) gives it."""

    name: str
    learning_rate: float
    epochs: int
    batch_size: int
    description: str
    input_shape: tuple[int, ...]  # one image as the model's input takes it
    variant_of: str | None = None  # the report model this one changes in one way, if any
    recipe: Recipe | None = None  # None: the report's Adam and cross-entropy
    design: CNNDesign | None = None  # the modern CNN's ingredients; None for the report's layouts
    # "bfloat16": registered in mixed bfloat16, which trains so where the machine has it
    # (`fmnist_lib.precision`); "float32": always float32.
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )


@dataclass(frozen=True)
class Ablation:
    """The modern CNN with one ingredient taken away (or added): the change in words, and the
    design and recipe it trains with."""

    change: str  # e.g. "without BatchNorm", as the chapter's table labels it
    design: CNNDesign = CNNDesign()
    recipe: Recipe = Recipe()


MODERN_ABLATIONS: MappingProxyType[str, Ablation] = MappingProxyType(
    {
        MODERN_CNN_NO_BATCHNORM: Ablation("without BatchNorm", CNNDesign(batch_norm=False)),
        "modern-cnn-no-dropout": Ablation("without dropout", CNNDesign(dropout=0.0)),
        "modern-cnn-no-shift": Ablation("without random shifts", CNNDesign(shift_px=0)),
        "modern-cnn-no-flip": Ablation("without random flips", CNNDesign(flip=False)),
        "modern-cnn-erasing": Ablation("with random erasing added", CNNDesign(erase=True)),
        "modern-cnn-no-smoothing": Ablation(
            "without label smoothing", recipe=Recipe(label_smoothing=0.0)
        ),
        "modern-cnn-constant-lr": Ablation(
            "with a constant learning rate, no cosine", recipe=Recipe(cosine=False)
        ),
    }
)

_SEED_MLP_SPEC = ModelSpec(
    name=SEED_MLP,
    learning_rate=1e-4,
    epochs=20,
    batch_size=32,
    description="the report's fully connected network (Part I)",
    input_shape=MLP_INPUT_SHAPE,
)
_SEED_CNN_SPEC = ModelSpec(
    name=SEED_CNN,
    learning_rate=1e-3,
    epochs=10,
    batch_size=32,
    description="the report's convolutional network (Part II)",
    input_shape=CNN_INPUT_SHAPE,
)


def _variant(report: ModelSpec, name: str, description: str) -> ModelSpec:
    """A variant of a report model: another layout, the report model's training settings."""
    return dataclasses.replace(
        report, name=name, description=description, variant_of=report.name
    )


def _modern_spec(name: str, description: str, design: CNNDesign, recipe: Recipe) -> ModelSpec:
    """A member of the modern CNN's family: its design and recipe, its training budget."""
    return ModelSpec(
        name=name,
        learning_rate=3e-3,
        epochs=20,
        batch_size=128,
        description=description,
        input_shape=CNN_INPUT_SHAPE,
        variant_of=None if name == MODERN_CNN else MODERN_CNN,
        recipe=recipe,
        design=design,
        precision="bfloat16",
    )


_MODERN_SPECS = (
    _modern_spec(
        MODERN_CNN,
        "a small VGG-style CNN with augmentation, BatchNorm, AdamW and a cosine schedule",
        CNNDesign(),
        Recipe(),
    ),
    *(
        _modern_spec(name, f"the modern CNN {ablation.change}", ablation.design, ablation.recipe)
        for name, ablation in MODERN_ABLATIONS.items()
    ),
)


MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        SEED_MLP: _SEED_MLP_SPEC,
        SEED_CNN: _SEED_CNN_SPEC,
        MLP_EQUAL_WIDTHS: _variant(
            _SEED_MLP_SPEC,
            MLP_EQUAL_WIDTHS,
            f"the report's MLP with equal widths {EQUAL_WIDTH}-{EQUAL_WIDTH}-{EQUAL_WIDTH} "
            "instead of a pyramid",
        ),
        MLP_L2_1E4: _variant(
            _SEED_MLP_SPEC, MLP_L2_1E4, "the report's MLP with L2 factor 1e-4 instead of 1e-5"
        ),
        CNN_CONSTANT_FILTERS: _variant(
            _SEED_CNN_SPEC,
            CNN_CONSTANT_FILTERS,
            "the report's CNN with 32-32-32 filters instead of 16-32-64",
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
