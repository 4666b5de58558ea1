"""cvxnn: globally optimal training of two-layer ReLU networks by convex optimization.

Build the convex program of a two-layer ReLU network (exact, sampled, gated, SCP or robust) as a
plain ``cvxpy.Problem``, solve it with any CVXPY solver or with cvxnn's structured ADMM, and
recover the ReLU network. See ``README.md`` for a tour.
"""

from ._version import __version__
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
from .solvers import DEFAULT_SOLVER, mosek_status, resolve_solver, usable_solvers

__all__ = [
    "DEFAULT_SOLVER",
    "ActivationPatterns",
    "ConvergenceWarning",
    "ConvexProgram",
    "CvxnnError",
    "GatedReLUNetwork",
    "InvalidInputError",
    "ModelFileError",
    "NotSolvedError",
    "PatternCheck",
    "PatternLimitError",
    "ReLUNetwork",
    "SolverUnavailableError",
    "UnsupportedProblemError",
    "__version__",
    "a_posteriori_check",
    "enumerate_patterns",
    "gated_relu_program",
    "loss_value",
    "mosek_status",
    "pattern_sample_size",
    "relu_program",
    "resolve_solver",
    "sample_patterns",
    "scp_program",
    "usable_solvers",
]
