"""The report in a real browser: headless Chromium loads it from disk, every section and figure renders."""

import os
import shutil

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


def test_report_renders_every_section_and_figure(browser, finished_run, tmp_path):
    from selenium.webdriver.common.by import By

    report = finished_run / "results/report.html"
    browser.get(report.as_uri())
    assert browser.title.startswith("epiclock")
    for section in SECTIONS:
        element = browser.find_element(By.ID, section)
        assert element.is_displayed(), section
        assert element.find_element(By.TAG_NAME, "h2").text.strip()
    summary = browser.find_element(By.ID, "summary").text
    assert "young_vs_old_serum_with_bm" in summary and "q <=" in summary

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
    # per clock, the forest plot, per custom clock, composition, and the QC figures
    assert len(figures) == n_clocks + 1 + n_custom + len(composition_figures) + len(qc_figures)
    for figure in figures:
        browser.execute_script("arguments[0].scrollIntoView();", figure)
        size = browser.execute_script(
            "const box = arguments[0].getBoundingClientRect(); return [box.width, box.height];", figure)
        assert size[0] > 300 and size[1] > 150, size
        # Something was drawn: the SVG holds paths with a real extent.
        drawn = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('path')).filter(p => p.getBBox().width > 0).length;",
            figure)
        assert drawn > 10

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight;"))
    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 50_000
