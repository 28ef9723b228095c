"""Every chapter's parameters declared once: name, kind, bounds and meaning.

In the spirit of scikit-learn's `_parameter_constraints`: a chapter's `parameters` cell gives
the defaults, and `CHAPTER_PARAMETERS[chapter]` says what each of them may be. Three places
check against these declarations, so their bounds cannot drift apart: the chapter itself, in
the cell after its parameters (`check_chapter`); the `execute` and `sweep` commands, before
papermill starts a kernel (`check_parameters`); and `--help`, which lists them
(`describe_chapter`). A parameter that several chapters take (`TRAIN_SUBSET`, `EPOCHS`, ...)
is declared once here and renamed or reworded per chapter, never re-bounded.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from fmnist_lib.data import N_TEST, N_TRAIN, N_VALIDATION
from fmnist_lib.registry import MODELS, MODERN_ABLATIONS, MODERN_CNN, SEED_CNN, SEED_MLP
from fmnist_lib.validation import (
    Boundaries,
    ParameterError,
    check_optional_path,
    check_scalar,
    check_seeds,
    expected_scalar,
)

Kind = Literal["int", "float", "seeds", "path", "names", "ints"]
_TYPES = {"int": int, "float": float, "ints": int}

MAX_EPOCHS = 200  # a cap on every chapter's epochs: far past any run the book makes
MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, which Keras' set_random_seed calls, stops here
MAX_SEEDS = 10  # seeds of a chapter that trains once per seed
# Training images at the least: one full batch of the registry's largest batch size.
MIN_TRAIN_SUBSET = max(spec.batch_size for spec in MODELS.values())


@dataclass(frozen=True)
class Parameter:
    """One chapter parameter: its name, kind, bounds and meaning (a line for `--help`).

    `kind` is "int" or "float" (a number in [low, high], closed as `boundaries` says), "ints"
    (a non-empty list of such integers), "seeds" (a list of 1 to MAX_SEEDS distinct seeds),
    "names" (a list of `choices`, at least `low` of them) or "path" (None or a non-empty
    string). `optional`: None is accepted too; `meaning` says what None stands for.
    """

    name: str
    kind: Kind
    meaning: str
    low: float | None = None
    high: float | None = None
    boundaries: Boundaries = "both"
    optional: bool = False
    choices: tuple[str, ...] = ()


def expected(parameter: Parameter) -> str:
    """The words for what a parameter accepts, e.g. 'None or an integer in [1, 200]'."""
    kind = parameter.kind
    if kind == "path":
        return "None or a path as a non-empty string"
    if kind == "seeds":
        words = f"a list of 1 to {MAX_SEEDS} distinct integers in [0, {MAX_SEED}]"
    elif kind == "names":
        least = parameter.low or 0
        words = "a non-empty list" if least == 1 else "a list"
        words += f" of at least {least} names" if least > 1 else " of names"
        words += f" from {', '.join(parameter.choices)}"
    else:
        low, high, boundaries = parameter.low, parameter.high, parameter.boundaries
        words = expected_scalar(_TYPES[kind], low, high, boundaries)
        if kind == "ints":
            words = "a non-empty list of " + words.replace("an integer", "integers", 1)
    return f"None or {words}" if parameter.optional else words


def _check_names(parameter: Parameter, value: object) -> tuple[str, ...]:
    """`value` as a tuple if it is a list of at least `low` of the parameter's choices."""
    if (
        not isinstance(value, list | tuple)
        or len(value) < (parameter.low or 0)
        or any(not isinstance(name, str) or name not in parameter.choices for name in value)
    ):
        raise ParameterError(f"{parameter.name} must be {expected(parameter)}, got {value!r}")
    return tuple(value)


def _check_ints(parameter: Parameter, value: object) -> tuple[int, ...]:
    """`value` as a tuple of ints if it is a non-empty list of integers within the bounds."""
    if not isinstance(value, list | tuple) or not value:
        raise ParameterError(f"{parameter.name} must be {expected(parameter)}, got {value!r}")
    return tuple(
        check_scalar(
            item,
            f"each of {parameter.name}",
            int,
            min_val=parameter.low,
            max_val=parameter.high,
            include_boundaries=parameter.boundaries,
        )
        for item in value
    )


def _check(parameter: Parameter, value: object) -> object:
    """`value` checked against the parameter's kind and bounds; ParameterError if it fails."""
    name, kind = parameter.name, parameter.kind
    if kind == "path":
        return check_optional_path(value, name)
    if parameter.optional and value is None:
        return None
    if kind == "seeds":
        seeds = check_seeds(value, name, MAX_SEEDS)
        return tuple(check_scalar(seed, f"each of {name}", int, max_val=MAX_SEED) for seed in seeds)
    if kind == "names":
        return _check_names(parameter, value)
    if kind == "ints":
        return _check_ints(parameter, value)
    return check_scalar(
        value,
        name,
        _TYPES[kind],
        min_val=parameter.low,
        max_val=parameter.high,
        include_boundaries=parameter.boundaries,
        allow_none=parameter.optional,
    )


def check_value(parameter: Parameter, value: object) -> object:
    """`value` as the chapter uses it (ints as int, lists as tuples), else a ParameterError that
    names the parameter, what it accepts and what it means."""
    try:
        return _check(parameter, value)
    except ParameterError as error:
        raise ParameterError(f"{error}; {parameter.name}: {parameter.meaning}") from None


# Parameters that several chapters take: declared once, renamed or reworded where they appear.
SEED = Parameter("seed", "int", "the random seed", low=0, high=MAX_SEED)
SEEDS = Parameter("seeds", "seeds", "one run per seed and model")
EPOCHS = Parameter("epochs", "int", "passes over the training images", low=1, high=MAX_EPOCHS)
EPOCHS_MLP = replace(
    EPOCHS,
    name="epochs_mlp",
    meaning="epochs of the report's MLP; None: the report's 20",
    optional=True,
)
EPOCHS_CNN = replace(
    EPOCHS,
    name="epochs_cnn",
    meaning="epochs of the report's CNN; None: the report's 10",
    optional=True,
)
TRAIN_SUBSET = Parameter(
    "train_subset",
    "int",
    "train on the first this many training images; None: all of them",
    low=MIN_TRAIN_SUBSET,
    high=N_TRAIN,
    optional=True,
)
BATCH_SIZE = Parameter("batch_size", "int", "images per gradient step", low=1, high=N_TRAIN)
ADAM_LEARNING_RATE = Parameter(
    "learning_rate",
    "float",
    "Adam's step size; None: the model's registered rate",
    low=0,
    high=0.5,
    boundaries="right",
    optional=True,
)
GALLERY_SIZE = Parameter(
    "gallery_size", "int", "misclassified test images in the gallery", low=1, high=60
)
N_TRIALS = Parameter(
    "n_trials", "int", "random trials in each numerical check", low=10, high=100_000
)
DATA_DIR = Parameter(
    "data_dir",
    "path",
    "folder holding the four IDX files; None searches the usual places",
    optional=True,
)

CHAPTER_PARAMETERS: Mapping[str, tuple[Parameter, ...]] = MappingProxyType(
    {
        "data_exploration": (
            Parameter(
                "examples_per_class", "int", "images of each class in the grid", low=1, high=20
            ),
            replace(SEED, meaning="which random examples the grid shows"),
            DATA_DIR,
        ),
        "theory_perceptrons": (
            Parameter(
                "perceptron_subset",
                "int",
                "Trouser and Bag images shown to the perceptron; None: all of them",
                low=200,
                optional=True,
            ),
            Parameter(
                "perceptron_max_epochs",
                "int",
                "the perceptron gives up after this many passes",
                low=10,
                high=10**4,
            ),
            DATA_DIR,
        ),
        "theory_softmax": (
            replace(N_TRIALS, meaning="random score vectors in each numerical check"),
            Parameter("n_classes", "int", "classes in the random checks", low=2, high=1000),
            Parameter(
                "n_examples",
                "int",
                "validation images in the Fashion-MNIST example",
                low=10,
                high=N_VALIDATION,
            ),
            replace(SEED, meaning="random scores and the choice of example images"),
            DATA_DIR,
        ),
        "theory_cross_entropy": (
            Parameter(
                "n_examples",
                "int",
                "examples in each batch on which losses and gradients are compared",
                low=8,
                high=10**4,  # a cap for cost (one batch through Keras), not a split's size
            ),
            replace(N_TRIALS, meaning="random pairs of distributions in the numerical checks"),
            replace(
                TRAIN_SUBSET,
                name="n_train",
                meaning="training images for the small MLP of the last section",
                optional=False,
            ),
            Parameter("n_hidden", "int", "hidden units of that MLP", low=2, high=32),
            replace(EPOCHS, meaning="that MLP's epochs of mini-batch SGD"),
            Parameter(
                "n_points",
                "int",
                "points on the straight path between two weight settings",
                low=5,
                high=1001,
            ),
            replace(SEED, meaning="random scores, the image batch and the MLP's initial weights"),
            DATA_DIR,
        ),
        "theory_backprop": (
            Parameter(
                "hidden_units", "int", "width of the network's hidden layer", low=1, high=4096
            ),
            replace(EPOCHS, meaning="passes over the training images, for NumPy and Keras alike"),
            replace(BATCH_SIZE, meaning="examples per SGD step"),
            Parameter(
                "learning_rate",
                "float",
                "SGD step size",
                low=0,
                high=10,
                boundaries="right",
            ),
            TRAIN_SUBSET,
            replace(SEED, meaning="initial weights and the order of the mini-batches"),
            DATA_DIR,
        ),
        "theory_convolution": (
            Parameter(
                "image_index",
                "int",
                "which training image the edge filters are applied to",
                low=0,
                high=N_TRAIN + N_VALIDATION - 1,  # the file's training images, before the split
            ),
            Parameter(
                "n_random_checks",
                "int",
                "random shapes on which the implementations are compared",
                low=1,
                high=500,
            ),
            replace(SEED, meaning="the random shapes, inputs and kernels"),
            DATA_DIR,
        ),
        "experiment_mlp": (
            replace(
                EPOCHS,
                meaning="passes over the training images; None: the report's 20",
                optional=True,
            ),
            replace(ADAM_LEARNING_RATE, meaning="Adam's step size; None: the report's 1e-4"),
            BATCH_SIZE,
            replace(SEED, meaning="initial weights and the order of the batches"),
            TRAIN_SUBSET,
            GALLERY_SIZE,
            DATA_DIR,
        ),
        "experiment_cnn": (
            replace(
                EPOCHS,
                meaning="passes over the training images; None: the report's 10",
                optional=True,
            ),
            replace(ADAM_LEARNING_RATE, meaning="Adam's step size; None: the report's 1e-3"),
            BATCH_SIZE,
            replace(SEED, meaning="initial weights and the order of the batches"),
            TRAIN_SUBSET,
            GALLERY_SIZE,
            Parameter(
                "image_index",
                "int",
                "the test image whose feature maps are shown",
                low=0,
                high=N_TEST - 1,
            ),
            Parameter(
                "gradient_images",
                "int",
                "test images over which the input gradients are averaged",
                low=1,
                high=N_TEST,
            ),
            DATA_DIR,
        ),
        "reproduction": (
            SEEDS,
            EPOCHS_MLP,
            EPOCHS_CNN,
            TRAIN_SUBSET,
            replace(
                TRAIN_SUBSET,
                name="baseline_subset",
                meaning="fit the scikit-learn baselines on this many images; None: all of them",
            ),
            replace(
                SEEDS,
                name="thread_seeds",
                meaning="seeds whose runs are repeated pinned to 1 and to 2 threads",
            ),
            DATA_DIR,
        ),
        "calibration": (
            SEEDS,
            EPOCHS_MLP,
            EPOCHS_CNN,
            TRAIN_SUBSET,
            Parameter(
                "n_bins",
                "int",
                "bins of confidence in the reliability tables and the ECE",
                low=2,
                high=100,
            ),
            DATA_DIR,
        ),
        "tuning_claims": (SEEDS, EPOCHS_MLP, EPOCHS_CNN, TRAIN_SUBSET, DATA_DIR),
        "modern_cnn": (
            replace(SEEDS, meaning="one run of each network per seed"),
            replace(
                EPOCHS, meaning="epochs of the full recipe; None: the registry's 20", optional=True
            ),
            replace(TRAIN_SUBSET, meaning="training images of the full recipe; None: all"),
            Parameter(
                "ablations",
                "names",
                "registry names of the ablations to run; None: all of them",
                low=1,
                optional=True,
                choices=tuple(MODERN_ABLATIONS),
            ),
            replace(
                EPOCHS,
                name="ablation_epochs",
                meaning="epochs of an ablation run; None: experiments.ABLATION_BUDGET's",
                optional=True,
            ),
            replace(
                TRAIN_SUBSET,
                name="ablation_subset",
                meaning="training images of an ablation run; None: ABLATION_BUDGET's",
            ),
            replace(EPOCHS_CNN, meaning="epochs of the report's CNN, the reference; None: 10"),
            replace(EPOCHS_MLP, meaning="epochs of the report's MLP (robustness); None: 20"),
            Parameter(
                "robustness_images",
                "int",
                "test images for the robustness table; None: all of them",
                low=10,
                high=N_TEST,
                optional=True,
            ),
            DATA_DIR,
        ),
        "speed": (
            replace(
                TRAIN_SUBSET,
                name="n_images",
                meaning="training images per timed epoch",
                optional=False,
            ),
            Parameter(
                "rounds",
                "int",
                "timed epochs per measurement, after one untimed; the fastest counts",
                low=1,
                high=20,
            ),
            Parameter(
                "batch_sizes",
                "ints",
                "batch sizes of the throughput table, none above n_images",
                low=1,
                high=N_TRAIN,
            ),
            Parameter(
                "matmul_size",
                "int",
                "side of the square float32 matmul that measures the peak",
                low=64,
                high=16384,
            ),
            Parameter(
                "thread_models",
                "names",
                "networks of the threads table",
                choices=(SEED_MLP, SEED_CNN, MODERN_CNN),
            ),
            replace(SEEDS, meaning="runs whose accuracy and time enter the cost of accuracy"),
            replace(
                EPOCHS,
                name="epochs_override",
                meaning="train those runs for this many epochs; None: each model's own",
                optional=True,
            ),
            replace(TRAIN_SUBSET, meaning="train those runs on the first this many images"),
            DATA_DIR,
        ),
    }
)


def parameters_of(chapter: str) -> tuple[Parameter, ...]:
    """The declared parameters of a chapter, in the order of its `parameters` cell."""
    if chapter not in CHAPTER_PARAMETERS:
        known = ", ".join(CHAPTER_PARAMETERS)
        raise ValueError(f"unknown chapter {chapter!r}; the chapters are: {known}")
    return CHAPTER_PARAMETERS[chapter]


def check_parameters(chapter: str, values: Mapping[str, object]) -> dict[str, object]:
    """Each of `values` checked against the chapter's declaration of it, as `check_value`
    returns it; an unknown name is a ParameterError that lists the chapter's parameters."""
    declared = {parameter.name: parameter for parameter in parameters_of(chapter)}
    unknown = [name for name in values if name not in declared]
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(name) for name in unknown)} for chapter {chapter}; "
            f"its parameters are: {', '.join(declared)}"
        )
    return {name: check_value(declared[name], value) for name, value in values.items()}


def check_chapter(chapter: str, namespace: Mapping[str, object]) -> dict[str, object]:
    """Every parameter of the chapter, read from `namespace` (a chapter passes `globals()`),
    checked; a ParameterError names the first bad one, its bounds and its meaning."""
    missing = [p.name for p in parameters_of(chapter) if p.name not in namespace]
    if missing:
        raise ParameterError(f"chapter {chapter} has no value for {', '.join(missing)}")
    return check_parameters(chapter, {p.name: namespace[p.name] for p in parameters_of(chapter)})


def describe_chapter(chapter: str) -> str:
    """The chapter's parameters as lines for `--help`: each name, its meaning, what it accepts."""
    parameters = parameters_of(chapter)
    width = max(len(parameter.name) for parameter in parameters)
    lines = [f"parameters of {chapter} (declared in fmnist_lib.chapter_params):"]
    for parameter in parameters:
        lines.append(f"  {parameter.name:<{width}}  {parameter.meaning}")
        lines.append(f"  {'':<{width}}  {expected(parameter)}")
    return "\n".join(lines)
