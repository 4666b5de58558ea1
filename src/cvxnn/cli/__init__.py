"""The ``cvxnn`` command line: ``fit``, ``inspect``, ``attack``, ``bench`` and ``verify``.

Run ``cvxnn --help`` (or ``python -m cvxnn --help``) and ``cvxnn COMMAND --help``.

DATA is anything :func:`cvxnn.datasets.load_dataset` reads: a numeric CSV (last column the
label or target; a non-numeric first line is a header), an ``.npz`` with arrays ``X`` and
``y``, or ``sklearn:NAME`` for a data set that ships with scikit-learn (``digits-2v8``,
``breast_cancer``, ``iris``, ``wine``, ``digits``, ``diabetes``).

Preprocessing: unless ``--no-standardize``, features are standardized with the *training*
split's mean and standard deviation (constant features keep scale 1). The scaler is stored in
the model file (``load_model(path).metadata["preprocessing"]``) and ``cvxnn attack`` applies
it, so ``--eps`` is measured on the standardized features. Targets are used as they are.

Modules: one per command (:mod:`.fit`, :mod:`.inspect`, :mod:`.verify`, :mod:`.attack`,
:mod:`.bench`), the shared options (:mod:`.options`), the shared data path (:mod:`.data`),
output files (:mod:`.output`), progress bars (:mod:`.progress`) and the entry point
(:mod:`.main`).

Exit codes: 0 success; 1 a solver failed or ended without a usable solution (or, for
``verify``, the solvers disagree); 2 bad input (file, option, data), reported as
``cvxnn: error: ...`` without a traceback; 130 interrupted.
"""

from .main import build_parser, main
from .progress import Progress

__all__ = ["Progress", "build_parser", "main"]
