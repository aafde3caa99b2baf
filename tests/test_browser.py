"""The report in a real browser: headless Chromium loads it from disk, every section and figure renders."""

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SECTIONS = ("summary", "qc", "coverage", "clocks", "composition", "contrasts", "custom-clocks", "methods", "provenance")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        message = ("NO BROWSER TEST: Chromium and ChromeDriver are not installed "
                   "(Debian: apt-get install chromium chromium-driver); the report was not checked in a browser")
        if os.environ.get("EPICLOCK_REQUIRE_BROWSER") == "1":
            pytest.fail(message + ", and EPICLOCK_REQUIRE_BROWSER=1 says it must be")
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    # The machine has no network: background connections would only fail noisily.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


VIEWPORT_WIDTH = 1280


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    """Where the screenshots go: $EPICLOCK_ARTEFACTS (CI keeps it) or pytest's temporary directory."""
    directory = Path(os.environ.get("EPICLOCK_ARTEFACTS") or tmp_path_factory.mktemp("screenshots"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def keep_screenshots(browser, directory: Path, name: str) -> None:
    """The first screen at 1280 x 900 and the whole page, as PNG files in ``directory``."""
    browser.set_window_size(VIEWPORT_WIDTH, 900)
    browser.execute_script("window.scrollTo(0, 0);")
    first = directory / f"{name}.first_screen.png"
    assert browser.save_screenshot(str(first)) and first.stat().st_size > 20_000
    browser.set_window_size(VIEWPORT_WIDTH, browser.execute_script("return document.body.scrollHeight;"))
    whole = directory / f"{name}.png"
    assert browser.save_screenshot(str(whole)) and whole.stat().st_size > 50_000
    browser.set_window_size(VIEWPORT_WIDTH, 900)


def open_every_details(browser) -> None:
    """Open every collapsed part, so that what it holds is measured and read too."""
    browser.execute_script("document.querySelectorAll('details').forEach(part => { part.open = true; });")


def overflowing(browser) -> list[str]:
    """Elements reaching past the right edge of a 1280 px wide window (and the page's own overflow)."""
    browser.set_window_size(VIEWPORT_WIDTH, 900)
    return browser.execute_script("""
        const width = document.documentElement.clientWidth;
        const found = [];
        if (document.documentElement.scrollWidth > width) found.push('page ' + document.documentElement.scrollWidth);
        for (const element of document.querySelectorAll('body *')) {
            const box = element.getBoundingClientRect();
            if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
                found.push(element.tagName + (element.id ? '#' + element.id : '') + ' ' + Math.round(box.right));
            }
        }
        return found.slice(0, 20);""")


def test_report_renders_every_section_and_figure(browser, finished_run, artefacts):
    from selenium.webdriver.common.by import By

    report = finished_run / "results/report.html"
    browser.get(report.as_uri())
    assert browser.title.startswith("epiclock")
    for section in SECTIONS:
        element = browser.find_element(By.ID, section)
        assert element.is_displayed(), section
        assert element.find_element(By.TAG_NAME, "h2").text.strip()
    summary = browser.find_element(By.ID, "summary").text
    # Contrasts by their description, the primary test named, the primary clock's estimate in years.
    assert "Young against old donor serum, both with bone marrow" in summary
    assert "paired t-test on donor means" in summary and "horvath_skin_blood2018" in summary
    headline = browser.find_element(By.CSS_SELECTOR, "#headline-young_vs_old_serum_with_bm .headline").text
    assert re.search(r"^[+-]\d+\.\d\d years \(95% CI [+-]\d+\.\d\d to [+-]\d+\.\d\d years\) under "
                     r"horvath_skin_blood2018", headline), headline

    # Only the primary clock's section is open at first; the others collapse to their titles.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#clocks details[open]")) == 1
    open_every_details(browser)
    figures = browser.find_elements(By.CSS_SELECTOR, "figure svg")
    n_clocks = len(browser.find_elements(By.CSS_SELECTOR, "#clocks .clock"))
    n_custom = len(browser.find_elements(By.CSS_SELECTOR, "#custom-clocks .custom-clock"))
    assert n_clocks >= 2 and n_custom == 1
    # The run starts from a beta matrix: call rate and beta density only, and a note on why the
    # intensity-based parts are absent.
    qc_figures = browser.find_elements(By.CSS_SELECTOR, "#qc figure svg")
    assert browser.find_element(By.ID, "qc-call-rate").find_elements(By.CSS_SELECTOR, "figure svg")
    assert browser.find_element(By.ID, "qc-no-intensities").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#qc-controls, #qc-sex, #qc-identity")
    # Cell composition: the reference's stacked bars and the per-contrast table of fractions.
    composition_figures = browser.find_elements(By.CSS_SELECTOR, "#composition figure svg")
    assert len(composition_figures) == 1
    assert "bone_marrow_vs_skin_alone" in browser.find_element(By.CSS_SELECTOR, "#composition table").text
    # per clock, a forest plot per contrast, per custom clock, composition, and the QC figures
    n_contrasts = len(browser.find_elements(By.CSS_SELECTOR, "#summary .contrast-head"))
    forests = browser.find_elements(By.CSS_SELECTOR, "#summary figure.forest svg")
    assert n_contrasts >= 4 and len(forests) == n_contrasts
    assert len(figures) == n_clocks + n_contrasts + n_custom + len(composition_figures) + len(qc_figures)
    for figure in figures:
        browser.execute_script("arguments[0].scrollIntoView();", figure)
        size = browser.execute_script(
            "const box = arguments[0].getBoundingClientRect(); return [box.width, box.height];", figure)
        # A compact forest plot (one clock unit, three clocks) is short; every other figure is larger.
        assert size[0] > 300 and size[1] > (80 if figure in forests else 150), size
        # Something was drawn: the SVG holds paths with a real extent.
        drawn = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('path')).filter(p => p.getBBox().width > 0).length;",
            figure)
        assert drawn > 10

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    assert overflowing(browser) == []
    keep_screenshots(browser, artefacts, "demo_report")


def test_units_directions_and_untested_contrasts_read_correctly(browser, project_root, tmp_path, artefacts):
    """A study with DNAmTL (kb, lower = older), DunedinPACE (years per year) and a contrast with one
    donor pair: headers carry each clock's unit, nothing reads a kb or pace clock as years, the
    untestable contrast says so and why, and nothing overflows 1280 px."""
    import yaml
    from selenium.webdriver.common.by import By

    from conftest import build_report_inputs, study_for_units
    from epiclock import report

    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config["clocks"]["names"] = ["horvath_skin_blood2018", "dnamtl2019", "dunedinpace2022"]
    page = tmp_path / "units_report.html"
    page.write_text(report.render(build_report_inputs(study_for_units(), config)), encoding="utf-8")
    browser.get(page.as_uri())
    open_every_details(browser)

    untested = browser.find_element(By.ID, "headline-bone_marrow_vs_skin_alone").text
    assert "Skin with bone marrow against skin alone, no serum" in untested
    assert "Not tested under horvath_skin_blood2018: only 1 donor(s)" in untested
    assert "no shift" not in untested.lower()
    tested = browser.find_element(By.ID, "headline-young_vs_old_serum_with_bm").text
    assert "Not tested" not in tested and "paired t-test on donor means" in tested

    for clock, unit, quantity in (("dnamtl2019", "kb", "telomere length"),
                                  ("dunedinpace2022", "years/year", "pace of ageing")):
        section = browser.find_element(By.ID, f"clock-{clock}")
        headers = [header.get_attribute("textContent").strip()
                   for header in section.find_elements(By.CSS_SELECTOR, "table.conditions th")]
        assert f"mean {quantity} ({unit})" in headers, headers
        assert not any("donor age" in header or "(years)" in header for header in headers), headers
        assert f"in {unit}" in section.find_element(By.TAG_NAME, "h3").get_attribute("textContent")
    rows = [[cell.get_attribute("textContent").strip() for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, "#contrasts-primary tr")]
    telomere_rows = [cells for cells in rows if cells and cells[1] == "dnamtl2019"]
    assert telomere_rows and all(cells[2] == "kb" and not any("years" in cell for cell in cells)
                                 for cells in telomere_rows)
    # A decrease of telomere length reads older; a pace increase reads faster ageing.
    summary = browser.find_element(By.ID, "summary").text
    assert "lower = older" in summary and "higher = faster ageing" in summary

    assert overflowing(browser) == []
    keep_screenshots(browser, artefacts, "units_report")
