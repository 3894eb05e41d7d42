"""Cost models: prices, compute and memory, strategy costs, amortization, uncertainty,
export. Pure functions over pydantic models; nothing here imports streamlit."""

from costmodels.amortize import CostReport, break_even_volume, estimate
from costmodels.assumptions import CostAssumptions, Range, load_assumptions
from costmodels.compute import estimate_memory, load_shape
from costmodels.prices import PriceCatalog, load_catalog
from costmodels.uncertainty import Uncertainty, simulate

__all__ = [
    "CostAssumptions",
    "CostReport",
    "PriceCatalog",
    "Range",
    "Uncertainty",
    "break_even_volume",
    "estimate",
    "estimate_memory",
    "load_assumptions",
    "load_catalog",
    "load_shape",
    "simulate",
]
