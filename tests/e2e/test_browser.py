"""End to end in a real browser: Debian's Chromium driven by Playwright against
`streamlit run` on a free loopback port."""

import os
import re
from pathlib import Path

import pytest

from tests.e2e.serve import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    env = {
        "ADAPT_RUNS": str(tmp_path_factory.mktemp("runs")),
        "ADAPT_STATE": str(tmp_path_factory.mktemp("state") / "app_state.json"),
    }
    with streamlit_server(env) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
        page.set_default_timeout(60_000)
        page.goto(server)
        yield page
        browser.close()


def shots_dir(tmp_path_factory) -> Path:
    where = os.environ.get("ADAPT_SCREENSHOTS")  # Path("") would be "." (the checkout)
    out = Path(where) if where else tmp_path_factory.mktemp("shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _go(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for()


MINUTES = "max minutes of training (loading, scoring and baselines come on top)"


def _fill(page, values: dict[str, str]) -> None:
    """Type into number inputs by their labels, as a user does (Enter commits each)."""
    for label, value in values.items():
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")


def _download(page, button: str, tries: int = 3) -> str:
    """Click a download button and read the file. A rerun of the page (the sidebar's
    pilot choice settling) can replace the file mid-download, which the browser reports
    as canceled; a user clicks again, and so does this."""
    from playwright.sync_api import Error

    for attempt in range(tries):
        page.wait_for_timeout(1000)  # let a pending rerun finish first
        try:
            with page.expect_download() as dl:
                page.get_by_role("button", name=button, exact=True).click()
            return Path(dl.value.path()).read_text()
        except Error:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _shot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its own container, so a full-page
    screenshot needs a window as tall as the content."""
    page.wait_for_timeout(800)
    tall = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')]"
        ".map(e => e.scrollHeight), 1100)"
    )
    page.set_viewport_size({"width": 1500, "height": min(int(tall) + 50, 8000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1500, "height": 1100})


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_decide_cost_pilot_export(page, tmp_path_factory, tiny_model):
    shots = shots_dir(tmp_path_factory)
    page.get_by_text("Recommended:").first.wait_for()
    # load an example scenario from the sidebar and read the recommendation
    page.locator('[data-testid="stSelectbox"]', has_text="Load an example scenario").click()
    page.get_by_role("option", name="Ticket triage at two million tickets a month").click()
    page.get_by_text("Recommended: Distill").first.wait_for()
    _shot(page, shots / "decide.png")

    # change the volume and see the break-even and the chart follow
    _go(page, "Costs")
    page.get_by_text("Break-even month").first.wait_for()
    before = _metric(page, "Break-even month")
    chart_before = page.locator(".js-plotly-plot").first.inner_html()
    volume = page.get_by_label("Requests per month", exact=True)
    volume.fill("400000")
    volume.press("Enter")
    page.wait_for_function(
        "b => ![...document.querySelectorAll('[data-testid=stMetric]')].some(m => "
        "m.innerText.includes('Break-even month') && m.innerText.includes(b))",
        arg=before,
    )
    assert _metric(page, "Break-even month") != before
    page.wait_for_timeout(1000)
    assert page.locator(".js-plotly-plot").first.inner_html() != chart_before
    _shot(page, shots / "costs.png")

    # launch a tiny pilot on the demo data and watch it reach done
    _go(page, "Pilot")
    page.get_by_text("Preflight").first.wait_for()
    # a tiny model (the pilot of each method on the default model is tested in
    # tests/trainers/test_pilot_default_model.py): the page, its probe and the run
    _pick(page, "method", "LoRA")  # the page opens on the advised pilot
    box = page.get_by_label("model (empty: the method's default)", exact=True)
    box.fill(str(tiny_model))
    box.press("Enter")
    _fill(page, {"max training steps": "2", "holdout rows to score (at most)": "8"})
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Launch pilot").click()
    page.wait_for_function("document.body.innerText.includes(': finished')", timeout=300_000)
    page.get_by_text("holdout accuracy").first.wait_for()
    _shot(page, shots / "pilot.png")
    page.get_by_role("button", name="Use this run's measurements in the advice and costs").click()
    page.get_by_text("Added: the Decide, Costs and Export pages now use this run.").wait_for()

    _go(page, "Runs")
    _shot(page, shots / "runs.png")

    # the what-if on Costs is the scenario: Export states the volume it writes
    _go(page, "Export")
    page.get_by_text("400,000 requests a month").first.wait_for()
    csv_text = _download(page, "CSV")
    assert csv_text.startswith("# strategies") and "distill" in csv_text
    assert "400000" in csv_text.replace(",", "") or "400000.0" in csv_text
    html = _download(page, "HTML report")
    assert html.startswith("<!doctype html>") and "Recommendation" in html
    assert "Pilot results" in html and "LoRA" in html and "Plotly" in html
    assert 'src="http' not in html  # plotly.js is inlined: the charts work offline
    assert len(html.encode()) < 1.5e6 and html.count("plotly.js (basic") == 1
    _shot(page, shots / "export.png")
    _report_fits_a_page(page, html, shots)


def _report_fits_a_page(page, html: str, shots: Path) -> None:
    """The report opened in a 1,100-pixel-wide window scrolls down, never sideways, and
    draws every chart."""
    path = shots / "report.html"
    path.write_text(html, encoding="utf-8")
    tab = page.context.browser.new_page(viewport={"width": 1100, "height": 900})
    tab.goto(path.as_uri())
    tab.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 1100
    tab.screenshot(path=str(shots / "report.png"), full_page=True)
    tab.close()


def test_closed_tab_reopened_shows_the_finished_run_and_cancel_is_no_error(page, server):
    """Issue 13: a new tab (a new session) on Pilot shows the latest run, finished, with its
    results and the button to use them; cancelling a run is an outcome, not an error."""
    tab = page.context.browser.new_page(viewport={"width": 1500, "height": 1100})  # a new tab
    tab.set_default_timeout(60_000)
    tab.goto(server + "/pilot")
    tab.get_by_text("holdout accuracy").first.wait_for()
    assert tab.get_by_text("finished").count() >= 1
    # the button, or (the first test pressed it, and the choice is kept) the note saying so
    tab.get_by_text(re.compile("(U|u)se this run's measurements")).first.wait_for()
    _fill(tab, {"max training steps": "100000", MINUTES: "600"})
    tab.wait_for_timeout(1500)
    tab.get_by_role("button", name="Launch pilot").click()
    tab.get_by_role("button", name="Cancel run").click(timeout=120_000)
    tab.wait_for_function("document.body.innerText.includes(': cancelled')", timeout=60_000)
    tab.get_by_text("This run was cancelled").first.wait_for()
    assert tab.locator('[data-testid="stAlertContentError"]').count() == 0
    assert tab.locator('[data-testid="stException"]').count() == 0
    tab.close()


def _field_error(page, text: str):
    return page.locator('[data-testid="stAlertContentError"]', has_text=text).first


def _pick(page, box_label: str, option: str) -> None:
    page.get_by_role("combobox", name=box_label, exact=True).click()
    page.keyboard.type(option)  # the list draws only the options in view: filter it
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(1500)  # the rerun it starts redraws the form: let it settle


def test_numbers_as_people_type_them(page, server, tmp_path_factory):
    """Issue 25: "2e6" is two million, "1e20" is refused beside the field and blocks the
    advice, and an invalid Pilot field disables Launch until it is fixed."""
    shots = shots_dir(tmp_path_factory)
    page.goto(server)
    page.get_by_text("Recommended:").first.wait_for()
    _fill(page, {"Requests per month": "2e6"})
    _go(page, "Costs")
    assert page.get_by_label("Requests per month", exact=True).input_value() == "2,000,000"
    _go(page, "Decide")
    _fill(page, {"Requests per month": "1e20"})
    _field_error(page, "is above the highest allowed, 100,000,000,000").wait_for()
    page.get_by_text("The recommendation waits for a valid answer").first.wait_for()
    assert page.get_by_text("Recommended:").count() == 0
    _shot(page, shots / "decide_refused.png")
    _fill(page, {"Requests per month": "2M"})
    page.get_by_text("Recommended:").first.wait_for()

    _go(page, "Pilot")
    _pick(page, "method", "LoRA")
    _fill(page, {"max training steps": "lots"})
    _field_error(page, "'lots' is not a number").wait_for()
    launch = page.get_by_role("button", name="Launch pilot")
    launch.wait_for()
    assert launch.is_disabled()
    page.get_by_text("Launch waits for a valid value").first.wait_for()
    _fill(page, {"max training steps": "1e5"})  # 100,000: the highest allowed
    page.wait_for_function("!document.body.innerText.includes('Launch waits for a valid value')")
    assert page.get_by_role("button", name="Launch pilot").is_enabled()


def test_the_pilot_form_survives_a_reload_and_the_classifier_draws_each_fit(
    page, server, tmp_path_factory
):
    shots = shots_dir(tmp_path_factory)
    page.goto(server + "/pilot")
    page.get_by_text("Preflight").first.wait_for()
    from playwright.sync_api import expect

    _pick(page, "method", "Encoder classifier")
    page.get_by_text("holdout share of the data (%)").first.wait_for()
    page.wait_for_timeout(1500)  # the rerun of the new method settles
    _fill(page, {"max training steps": "6", "holdout rows to score (at most)": "24"})
    page.wait_for_timeout(2000)
    page.reload()  # a reload is a new session: the form comes back from the saved state
    page.get_by_text("Preflight").first.wait_for()
    expect(page.get_by_label("max training steps", exact=True)).to_have_value("6")
    expect(page.get_by_label("holdout rows to score (at most)", exact=True)).to_have_value("24")
    expect(page.get_by_role("combobox", name="method", exact=True)).to_have_value(
        "Encoder classifier"
    )
    page.get_by_role("button", name="Launch pilot").click()
    page.wait_for_function("document.body.innerText.includes(': finished')", timeout=300_000)
    page.get_by_text("holdout accuracy").first.wait_for()
    legend = page.locator(".js-plotly-plot", has_text="Training loss").first
    legend.wait_for()
    text = legend.inner_text()
    for fit in ("the classifier (fit 1 of 3)", "threshold fold 1 of 2", "threshold fold 2 of 2"):
        assert fit in text, text
    _shot(page, shots / "pilot_classifier.png")
    _go(page, "Runs")
    page.get_by_text("compare runs").first.wait_for()
    _shot(page, shots / "runs_two.png")
    # at 1,400 pixels every table fits: no page, table or grid scrolls sideways
    page.set_viewport_size({"width": 1400, "height": 1100})
    for title in ("Runs", "Costs", "Export", "Decide"):
        _go(page, title)
        page.wait_for_timeout(2500)
        wide = page.evaluate(SIDEWAYS)
        assert not wide, (title, wide)
    page.set_viewport_size({"width": 1500, "height": 1100})


# Elements wider than their box: the page itself, static tables, and data grids' scrollers.
SIDEWAYS = """[document.documentElement, ...document.querySelectorAll(
  '[data-testid=stTable], [data-testid=stTable] > div, .dvn-scroller')]
  .filter(e => e.scrollWidth > e.clientWidth + 2)
  .map(e => (e.getAttribute('data-testid') || e.className || e.tagName) + ' ' + e.scrollWidth
       + '>' + e.clientWidth)"""
