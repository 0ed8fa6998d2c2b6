"""Regressing out unwanted variation (``regress_out``).

The drivers (:mod:`.drivers`): :func:`regress_out_categorical` takes the dense array
scanpy regresses and the cells' category codes (the float32 category means scanpy
regresses on and each gene's least-squares residuals in closed form, kernel
:func:`.categorical.regress_categorical`); :func:`regress_out_continuous` takes a CSR
matrix or a C-ordered array and scanpy's regressors ``[1, obs[keys]]`` (every gene's
least-squares residuals without a float64 copy of the matrix, kernels
:func:`.continuous.regressor_products_csr` / ``_dense`` and
:func:`.continuous.regress_residuals_csr` / ``_dense``).
"""

from __future__ import annotations

from .categorical import regress_categorical
from .continuous import (
    regress_residuals_csr,
    regress_residuals_dense,
    regressor_products_csr,
    regressor_products_dense,
)
from .drivers import regress_out_categorical, regress_out_continuous

__all__ = [
    "regress_categorical",
    "regress_out_categorical",
    "regress_out_continuous",
    "regress_residuals_csr",
    "regress_residuals_dense",
    "regressor_products_csr",
    "regressor_products_dense",
]
