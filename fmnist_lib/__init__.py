"""fmnist_lib: the tested library behind fmnist-book (data, models, training, evaluation, plots)."""

import os

# TensorFlow's C++ log (oneDNN notices, "failed call to cuInit" on machines without a GPU, graph
# attribute notices) buries the output that matters in notebooks and on the command line; real
# failures still raise Python exceptions. Set TF_CPP_MIN_LOG_LEVEL yourself to see that log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
