"""cvxnn: globally optimal training of two-layer ReLU networks by convex optimization.

Build the convex program of a two-layer ReLU network (exact, sampled, gated, SCP or robust) as a
plain ``cvxpy.Problem``, solve it with any CVXPY solver or with cvxnn's structured ADMM
(``problem.solve(method=cvxnn.ADMM)``), verify it across solvers, and recover the ReLU network.
See ``README.md`` for a tour.
"""

from typing import Any

from ._version import __version__
from .admm import AdmmProgress, AdmmResult, AdmmSettings, AdmmSolver, solve_admm
from .attacks import fgsm, input_gradient, pgd, robust_accuracy, worst_case_loss
from .building import build_program
from .certificate import SearchCertificate
from .cvxpy_backend import ADMM  # importing registers the method with cvxpy.Problem
from .enums import Loss, PerturbationNorm, ProgramKind
from .exceptions import (
    ConvergenceWarning,
    CvxnnError,
    InvalidInputError,
    ModelFileError,
    NotSolvedError,
    PatternLimitError,
    SolverUnavailableError,
    UnsupportedProblemError,
)
from .io import load_estimator, load_network, save_estimator, save_network
from .kinds import KIND_MODELS
from .losses import loss_value
from .patterns import (
    ActivationPatterns,
    PatternCheck,
    a_posteriori_check,
    enumerate_patterns,
    pattern_sample_size,
    sample_patterns,
)
from .programs import ConvexProgram, gated_relu_program, relu_program, scp_program
from .recovery import GatedReLUNetwork, ReLUNetwork
from .robust import robust_loss_bound, robust_relu_program
from .search import PatternSearchResult, SearchRound, search_patterns
from .solvers import DEFAULT_SOLVER, mosek_status, resolve_solver, usable_solvers
from .verification import SolverResult, VerificationReport, check_point, verify

_LAZY = {
    # scikit-learn is imported only when an estimator is first used
    "ConvexReLUClassifier": "estimator",
    "ConvexReLURegressor": "estimator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'cvxnn' has no attribute {name!r}")


__all__ = [
    "ADMM",
    "DEFAULT_SOLVER",
    "KIND_MODELS",
    "ActivationPatterns",
    "AdmmProgress",
    "AdmmResult",
    "AdmmSettings",
    "AdmmSolver",
    "ConvergenceWarning",
    "ConvexProgram",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "CvxnnError",
    "GatedReLUNetwork",
    "InvalidInputError",
    "Loss",
    "ModelFileError",
    "NotSolvedError",
    "PatternCheck",
    "PatternLimitError",
    "PatternSearchResult",
    "PerturbationNorm",
    "ProgramKind",
    "ReLUNetwork",
    "SearchCertificate",
    "SearchRound",
    "SolverResult",
    "SolverUnavailableError",
    "UnsupportedProblemError",
    "VerificationReport",
    "__version__",
    "a_posteriori_check",
    "build_program",
    "check_point",
    "enumerate_patterns",
    "fgsm",
    "gated_relu_program",
    "input_gradient",
    "load_estimator",
    "load_network",
    "loss_value",
    "mosek_status",
    "pattern_sample_size",
    "pgd",
    "relu_program",
    "resolve_solver",
    "robust_accuracy",
    "robust_loss_bound",
    "robust_relu_program",
    "sample_patterns",
    "save_estimator",
    "save_network",
    "scp_program",
    "search_patterns",
    "solve_admm",
    "usable_solvers",
    "verify",
    "worst_case_loss",
]
