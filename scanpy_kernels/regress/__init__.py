"""Regressing out unwanted variation (``regress_out``) on a categorical variable.

The driver (:mod:`.drivers`) takes the dense array scanpy regresses and the cells'
category codes: :func:`regress_out_categorical` (the float32 category means scanpy
regresses on and each gene's least-squares residuals in closed form, kernel
:func:`.categorical.regress_categorical`).
"""

from __future__ import annotations

from .categorical import regress_categorical
from .drivers import regress_out_categorical

__all__ = ["regress_categorical", "regress_out_categorical"]
