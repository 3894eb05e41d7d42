"""The decision engine: a Scenario in, a ranked Recommendation with reasons out."""

from advisor.recommend import Recommendation, recommend
from advisor.rules import RULES, STRATEGIES, STRATEGY_LABELS
from core.scenario import InputError, Scenario, load_scenario, save_scenario

__all__ = [
    "RULES",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "InputError",
    "Recommendation",
    "Scenario",
    "load_scenario",
    "recommend",
    "save_scenario",
]
