"""Issue 13: for every scenario of the one-rule table, the Decide page, the Costs page and
the Export page name the same pick, the one `recommend` gives (the HTML report is checked
in tests/advisor/test_one_rule.py)."""

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from advisor import recommend
from core.vocab import STRATEGY_LABELS
from costmodels import estimate
from tests.advisor.test_one_rule import CASES
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _pick(text: str) -> str:
    return text.removeprefix("Recommended: ").split(". ")[0]


def test_decide_costs_and_export_name_the_same_pick_for_every_scenario():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    for name, scenario in CASES:
        expected = STRATEGY_LABELS[recommend(scenario, estimate(scenario)).recommended]
        at.switch_page("app_pages/decide.py").run()
        data = yaml.safe_dump(scenario.model_dump(mode="json")).encode()
        at.get("file_uploader")[0].set_value((f"{name}.yaml", data, "application/x-yaml")).run()
        assert not at.exception, (name, at.exception)
        assert _pick(at.success[0].value) == expected, name
        at.switch_page("app_pages/costs.py").run()
        assert _pick(at.success[0].value) == expected, name
        at.switch_page("app_pages/export.py").run()
        assert f"recommended: **{expected}**" in at.info[0].value, name
        assert f"{scenario.requests_per_month:,} requests a month" in at.info[0].value, name
