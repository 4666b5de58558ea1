r"""The driver's core set of cone rows (``cone_method="rowgen"``): row generation for the cones.

Block ``j`` of the ``relu`` program constrains :math:`u_j \in K_j = \{u : s_{kj}x_k'^Tu \ge 0,\
k = 1..n\}`. In ``d'`` dimensions only a few of the ``n`` half-spaces are facets of
:math:`K_j`, and fewer are active at the optimum. The driver keeps a *core set* ``C`` of training
rows (each with its pattern row, i.e. its signs for every block) and the relaxed cones
:math:`K_j^C = \{u : s_{kj}x_k'^Tu \ge 0,\ k \in C\} \supseteq K_j`, onto which it projects
exactly (:class:`cvxnn.admm.cones.ConeProjector`, the single-process ADMM's projection splitting).
The shards report the rows that the current point violates most (one max-reduction at each
residual check) and the set grows until the point meets every row: rows never travel otherwise.

Why it is sound: the relaxed program (cones :math:`K^C`) has a smaller optimum than the full
one, so a point that is optimal for it and meets every row of the full cones is optimal for the
full program; and a dual certificate whose cone multipliers live on core rows is dual feasible
for the full program (multipliers zero elsewhere), so its bound is valid for the full program.
"""

from __future__ import annotations

import numpy as np

from ..admm.cones import ConeProjector


def group_prox(T: np.ndarray, thresh: float) -> np.ndarray:
    r"""Group soft-threshold of the columns of ``T``: :math:`(1 - \tau/\|t_j\|)_+ t_j`."""
    norms = np.linalg.norm(T, axis=0)
    scale = np.where(norms > thresh, 1.0 - thresh / np.where(norms > 0, norms, 1.0), 0.0)
    return T * scale


#: The :class:`ConeProjector` state that names core rows by index (kept across a rebuild).
WARM_STATE = ("W", "Xw", "Ginv", "Sw", "Z", "age", "ill")


class CoreRows:
    """A growing set of training rows and the projector onto their cones.

    Parameters
    ----------
    dprime : int
        Columns of ``X'``.
    P : int
        Patterns (the blocks are ``[V, W]``, ``2P`` of them, with shared signs).
    tol : float
        Relative tolerance of the projections.
    """

    def __init__(self, dprime: int, P: int, tol: float = 1e-10) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros((0, dprime))
        self.patterns = np.zeros((0, P))
        self.tol = tol
        self.projector = ConeProjector(self.rows, np.zeros((0, 2 * P)), tol=tol)
        self.checker = self.projector.twin()
        self.P = P

    def __len__(self) -> int:
        return int(self.keys.size)

    def add(self, parts: list[tuple[np.ndarray, ...]]) -> int:
        """Add the rows ``(keys, rows, patterns, ...)`` reported by the shards (duplicates are
        ignored); returns how many were new.

        New rows are appended, so the row indices of the projectors' working sets stay valid:
        the rebuilt projectors keep them (a warm start; the working sets only name rows)."""
        keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        keys, first = np.unique(keys, return_index=True)
        new = ~np.isin(keys, self.keys)
        if not np.any(new):
            return 0
        pick = first[new]
        self.keys = np.concatenate([self.keys, keys[new]])
        self.rows = np.vstack([self.rows, np.vstack([p[1] for p in parts])[pick]])
        self.patterns = np.vstack([self.patterns, np.vstack([p[2] for p in parts])[pick]])
        signs = 2.0 * self.patterns - 1.0
        old = (self.projector, self.checker) if self.projector.n else None
        self.projector = ConeProjector(self.rows, np.hstack([signs, signs]), tol=self.tol)
        self.checker = self.projector.twin()
        if old is not None:
            for kept, fresh in zip(old, (self.projector, self.checker), strict=True):
                for name in WARM_STATE:
                    setattr(fresh, name, getattr(kept, name).copy())
        return int(np.count_nonzero(new))

    def prox(self, T: np.ndarray, tau: float) -> np.ndarray:
        r"""The prox of :math:`\tau\|\cdot\|_2 + I_{K_j^C}` of every column of ``T`` (``d' x 2P``)."""
        return self.projector.prox(T, tau) if len(self) else group_prox(T, tau)

    def project(self, T: np.ndarray) -> np.ndarray:
        r""":math:`\Pi_{K_j^C}(t_j)` for every column of ``T`` (the certificates' projector: its
        working sets are kept apart from those of :meth:`prox`)."""
        return self.checker.project(T) if len(self) else T.copy()
