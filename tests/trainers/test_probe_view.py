"""Issue 13, item 5: the probe runs in the background with progress on the Pilot page,
and is kept when only the time cap or the holdout size change."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from trainers.config import PilotConfig
from trainers.preflight.job import probe_key

pytestmark = pytest.mark.slow


def _info(at) -> str:
    return " ".join(i.value for i in at.info) + " ".join(e.value for e in at.error)


def test_the_probe_runs_in_the_background_and_survives_scale_only_changes(tiny_model, runs_dir):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.switch_page("app_pages/pilot.py").run()
    at.selectbox(key="method").set_value("lora").run()  # the page opens on the advised one
    at.text_input(key="model").set_value(str(tiny_model)).run()
    assert "(estimated)" in _info(at)
    button = at.button(key="probe_btn")
    assert "about" in button.label and " s)" in button.label  # the duration it announces
    button.click().run()
    assert not at.exception
    deadline = time.time() + 180
    while "(probed)" not in _info(at) and time.time() < deadline:
        assert not at.exception, at.exception
        time.sleep(1)
        at.run()
    assert "(probed)" in _info(at), _info(at)
    at.text_input(key="max_minutes").set_value("3.0").run()
    at.text_input(key="holdout_max").set_value("16").run()
    assert "(probed)" in _info(at)  # kept: only scale-only settings changed
    at.selectbox(key="method").set_value("qlora").run()
    assert "(estimated)" in _info(at)  # another method needs its own probe


def test_the_probe_key_ignores_what_only_scales():
    cfg = PilotConfig.model_validate({"method": "lora", "data": "x.csv"})
    scaled = cfg.model_copy(
        update={
            "holdout_max": 7,
            "train": cfg.train.model_copy(update={"max_minutes": 1.0, "max_steps": 3}),
        }
    )
    assert probe_key(cfg) == probe_key(scaled)
    other = cfg.model_copy(update={"train": cfg.train.model_copy(update={"batch_size": 2})})
    assert probe_key(cfg) != probe_key(other)
