"""The ``cvxnn`` command line: ``fit``, ``predict``, ``inspect``, ``verify``, ``attack`` and ``bench``.

Run ``cvxnn --help`` (or ``python -m cvxnn --help``) and ``cvxnn COMMAND --help``.

DATA is anything :func:`cvxnn.datasets.load_dataset` reads: a numeric CSV (last column the
label or target; a non-numeric first line is a header), an ``.npz`` with arrays ``X`` and
``y``, or ``sklearn:NAME`` for a data set that ships with scikit-learn (``digits-2v8``,
``breast_cancer``, ``iris``, ``wine``, ``digits``, ``diabetes``).

Preprocessing: unless ``--no-standardize``, features are standardized with the *training*
split's mean and standard deviation (a ``StandardScaler``; constant features keep scale 1). The
model file holds ``Pipeline([("scale", scaler), ("model", estimator)])``, which predicts on raw
features; ``cvxnn attack`` attacks the networks behind the scaler, so ``--eps`` is measured on
the standardized features. Targets are used as they are.

Modules: one per command (:mod:`.fit`, :mod:`.predict`, :mod:`.inspect`, :mod:`.verify`,
:mod:`.attack`, :mod:`.bench`), the shared options (:mod:`.options`), the shared data path
(:mod:`.data`), model files (:mod:`.models`), output files (:mod:`.output`, checked before any
work), progress bars (:mod:`.progress`) and the entry point (:mod:`.main`).

Exit codes: 0 success; 1 a solver failed or ended without a usable solution (or, for
``verify``, the solvers disagree); 2 bad input (file, option, data), reported as
``cvxnn: error: ...`` without a traceback; 130 interrupted.
"""

from .main import build_parser, main
from .progress import Progress

__all__ = ["Progress", "build_parser", "main"]
