"""Row-sharded ADMM on Dask: :func:`solve_sharded` (needs the ``distributed`` extra).

The training rows live on the cluster in row chunks; patterns are computed there from the gates,
and per iteration only ``d' x 2P`` arrays travel (one broadcast, one reduction). See
:mod:`cvxnn.distributed.solver` for the splitting and the certificate.
"""

from __future__ import annotations

from .settings import ShardedResult, ShardedSettings, WorkerLostError
from .solver import solve_sharded

__all__ = ["ShardedResult", "ShardedSettings", "WorkerLostError", "solve_sharded"]
