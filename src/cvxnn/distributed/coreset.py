r"""The driver's core set of cone rows (``cone_method="rowgen"``): row generation for the cones.

Block ``j`` of the ``relu`` program constrains :math:`u_j \in K_j = \{u : s_{kj}x_k'^Tu \ge 0,\
k = 1..n\}`. In ``d'`` dimensions only a few of the ``n`` half-spaces are facets of
:math:`K_j`, and fewer are active at the optimum. The driver keeps a *core set* ``C`` of training
rows (each with its pattern row, i.e. its signs for every block) and the relaxed cones
:math:`K_j^C = \{u : s_{kj}x_k'^Tu \ge 0,\ k \in C\} \supseteq K_j`, onto which it projects
exactly (:class:`cvxnn.admm.cones.ConeProjector`, the single-process ADMM's projection splitting).
The shards report the rows that the current point violates most (one max-reduction at each
residual check) and the set grows until the point meets every row: rows never travel otherwise.

Rows that left every working set stay idle; :meth:`CoreRows.prune` drops those idle for a number
of residual checks (``ShardedSettings.rowgen_prune``), so the set follows the active rows instead
of every row violated on the way. A dropped row that the point violates again is reported again.

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
        self.idle = np.zeros(0, dtype=np.intp)  # residual checks since each row was in a working set
        self.pruned = 0

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
        self.idle = np.concatenate([self.idle, np.zeros(pick.size, dtype=np.intp)])
        self._rebuild(np.arange(len(self) - pick.size))
        return int(np.count_nonzero(new))

    def _rebuild(self, position: np.ndarray) -> None:
        """New projectors over the current rows, keeping the old ones' working sets; ``position``
        maps each old row index to its new one (every row named in a working set is kept)."""
        signs = 2.0 * self.patterns - 1.0
        old = (self.projector, self.checker) if self.projector.n else None
        self.projector = ConeProjector(self.rows, np.hstack([signs, signs]), tol=self.tol)
        self.checker = self.projector.twin()
        if old is not None:
            for kept, fresh in zip(old, (self.projector, self.checker), strict=True):
                for name in WARM_STATE:
                    setattr(fresh, name, getattr(kept, name).copy())
                fresh.W = np.where(kept.W >= 0, position[np.maximum(kept.W, 0)], -1)

    def tick(self) -> None:
        """One residual check: rows in a working set of either projector become busy (idle 0),
        the others one check idler."""
        busy = np.zeros(len(self), dtype=bool)
        for projector in (self.projector, self.checker):
            named = projector.W[projector.W >= 0]
            busy[named[named < len(self)]] = True
        self.idle = np.where(busy, 0, self.idle + 1)

    def prune(self, after: int) -> int:
        """Drop the rows idle for at least ``after`` residual checks (:meth:`tick`); returns how
        many were dropped. Rows in a working set are never idle, so the working sets carry
        over (renumbered)."""
        keep = self.idle < after
        dropped = int(np.count_nonzero(~keep))
        if dropped == 0:
            return 0
        position = np.cumsum(keep) - 1
        self.keys, self.rows, self.patterns = self.keys[keep], self.rows[keep], self.patterns[keep]
        self.idle = self.idle[keep]
        self._rebuild(position)
        self.pruned += dropped
        return dropped

    def prox(self, T: np.ndarray, tau: float) -> np.ndarray:
        r"""The prox of :math:`\tau\|\cdot\|_2 + I_{K_j^C}` of every column of ``T`` (``d' x 2P``)."""
        return self.projector.prox(T, tau) if len(self) else group_prox(T, tau)

    def project(self, T: np.ndarray) -> np.ndarray:
        r""":math:`\Pi_{K_j^C}(t_j)` for every column of ``T`` (the certificates' projector: its
        working sets are kept apart from those of :meth:`prox`)."""
        return self.checker.project(T) if len(self) else T.copy()
