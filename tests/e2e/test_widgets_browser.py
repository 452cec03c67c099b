"""The course's explorers, used the way a student uses them: in JupyterLab, in a browser.

Each test opens a notebook in headless Chromium (see ``conftest.py``), runs all
its cells, checks that the explorer rendered as a live widget, then moves its
sliders with the keyboard and checks that

* the readout shows the numbers :mod:`course_utils.atrous` computes for the new
  slider values, and
* the figure below it was re-drawn (a different image, visibly different pixels).

Screenshots of every explorer before and after each move land in
``tests/artifacts/e2e/``. Run with ``pytest tests/e2e -m e2e`` (see docs/e2e.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_utils.atrous import effective_kernel_size, receptive_field, valid_weight_fraction
from course_utils.widgets import pattern_rates

pytestmark = pytest.mark.e2e

NB_ATROUS = "01_atrous_convolution.ipynb"
NB_ASPP = "03_aspp.ipynb"
UPDATE_TIMEOUT_MS = 30_000

DILATION_RE = re.compile(r"kernel (\d+)x(\d+), rate (\d+) -> effective (\d+)x(\d+)")
RF_RE = re.compile(r"receptive field: (\d+)x(\d+) \((\d+) layers?\)")
ASPP_RE = re.compile(r"rates ([\d, ]+) -> valid weights ([\d%, ]+)")


# --------------------------------------------------------------------------- helpers


class Explorer:
    """One rendered explorer in a notebook tab, found by its CSS classes."""

    def __init__(self, page, box: str, readout: str, figure: str, artifacts: Path, tag: str):
        self.page = page
        self.box = page.locator(f".{box}").first
        self.readout = self.box.locator(f".{readout}")
        self.figure = self.box.locator(f".{figure}")
        self.artifacts = artifacts
        self.tag = tag

    def slider(self, css_class: str, index: int = 0):
        return self.box.locator(f".{css_class}").nth(index)

    @staticmethod
    def value(slider) -> int:
        """The value an ipywidgets slider shows in its readout."""
        return int(slider.locator(".widget-readout").inner_text().strip())

    def readout_text(self) -> str:
        return self.readout.inner_text().strip()

    def image_src(self) -> str:
        return self.figure.locator("img").first.get_attribute("src") or ""

    def wait_until_ready(self) -> None:
        """Wait for the live widget (slider handles, readout, a decoded figure), not a placeholder."""
        self.box.wait_for(state="visible", timeout=UPDATE_TIMEOUT_MS)
        self.box.locator(".noUi-handle").first.wait_for(state="visible")
        img = self.figure.locator("img").first
        img.wait_for(state="visible")
        self.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        assert self.readout_text(), f"{self.tag}: the readout is empty"
        box_text = self.box.inner_text()
        for placeholder in ("Loading widget", "Error displaying widget", "Error rendering"):
            assert placeholder not in box_text, f"{self.tag}: the widget shows {placeholder!r}"
        # The explorer as the student sees it, inside the lab.
        self.box.scroll_into_view_if_needed()
        self.page.screenshot(path=str(self.artifacts / f"{self.tag}-in-lab.png"))

    def shot(self, step: str) -> bytes:
        """Screenshot of the whole explorer, saved as ``<tag>-<step>.png``; returns the figure's pixels."""
        self.box.scroll_into_view_if_needed()
        self.box.screenshot(path=str(self.artifacts / f"{self.tag}-{step}.png"))
        return self.figure.screenshot()

    def press(self, slider, key: str) -> None:
        """Focus the slider's handle and press ``key`` (ArrowRight, End, ...), as a keyboard user would."""
        handle = slider.locator(".noUi-handle")
        handle.focus()
        handle.press(key)

    def wait_for_update(self, old_src: str, expected_readout_ok, what: str) -> None:
        """Wait until the readout satisfies ``expected_readout_ok`` and the figure is a new image."""
        try:
            self.page.wait_for_function(
                "([el, src]) => { const img = el.querySelector('img');"
                " return img && img.getAttribute('src') !== src && img.complete && img.naturalWidth > 0; }",
                arg=[self.figure.element_handle(), old_src],
                timeout=UPDATE_TIMEOUT_MS,
            )
        except Exception as exc:  # playwright's TimeoutError: say what did not happen
            raise AssertionError(f"{self.tag}: the figure was not re-drawn after {what}") from exc
        deadline_text = None
        for _ in range(100):
            deadline_text = self.readout_text()
            if expected_readout_ok(deadline_text):
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{self.tag}: after {what} the readout says {deadline_text!r}")


def move_and_check(explorer: Explorer, slider, key: str, step: str, readout_ok) -> tuple[int, str]:
    """Press ``key`` on ``slider``; check readout and figure changed; return (new value, readout)."""
    before_value = explorer.value(slider)
    before_src = explorer.image_src()
    before_pixels = explorer.figure.screenshot()
    explorer.press(slider, key)
    explorer.page.wait_for_function(
        "([el, v]) => parseInt(el.querySelector('.widget-readout').textContent) !== v",
        arg=[slider.element_handle(), before_value],
        timeout=UPDATE_TIMEOUT_MS,
    )
    after_value = explorer.value(slider)
    explorer.wait_for_update(before_src, readout_ok, f"{key} moved the slider from {before_value} to {after_value}")
    after_pixels = explorer.shot(step)
    assert after_pixels != before_pixels, f"{explorer.tag}: the figure looks the same after {step}"
    return after_value, explorer.readout_text()


def assert_no_unexpected_outside_requests(page, notebook_tabs, name: str) -> None:
    """Outside requests are all blocked; the only ones allowed to be *attempted* are
    links in the notebook's own text (the "Open in Colab" badge image)."""
    source = (notebook_tabs.server.root_dir / name).read_text(encoding="utf-8")
    unexpected = [url for url in page.blocked_requests if url not in source]
    assert unexpected == [], f"the lab tried to reach other hosts: {unexpected}"


@pytest.fixture(scope="module")
def atrous_page(notebook_tabs):
    return notebook_tabs.open(NB_ATROUS)


@pytest.fixture(scope="module")
def aspp_page(notebook_tabs):
    return notebook_tabs.open(NB_ASPP)


# --------------------------------------------------------------------------- tests


def test_dilation_explorer_follows_the_rate_and_kernel_sliders(atrous_page, notebook_tabs, artifacts_dir):
    ex = Explorer(atrous_page, "course-dilation-explorer", "course-dilation-readout", "course-dilation-figure",
                  artifacts_dir, "01-dilation")  # fmt: skip
    ex.wait_until_ready()
    kernel, rate = ex.slider("course-kernel-slider"), ex.slider("course-rate-slider")
    ex.shot("0-initial")

    def readout_ok(text: str) -> bool:
        m = DILATION_RE.fullmatch(text)
        k, r = ex.value(kernel), ex.value(rate)
        e = effective_kernel_size(k, r)
        return bool(m) and tuple(map(int, m.groups())) == (k, k, r, e, e)

    assert readout_ok(ex.readout_text()), f"initial readout {ex.readout_text()!r}"
    start_effective = effective_kernel_size(ex.value(kernel), ex.value(rate))

    new_rate, _ = move_and_check(ex, rate, "ArrowRight", "1-rate-up", readout_ok)
    grown = effective_kernel_size(ex.value(kernel), new_rate)
    assert grown > start_effective, "a larger rate must spread the kernel over more pixels"

    move_and_check(ex, kernel, "ArrowRight", "2-kernel-up", readout_ok)
    move_and_check(ex, rate, "Home", "3-rate-1", readout_ok)
    assert ex.value(rate) == 1
    assert_no_unexpected_outside_requests(atrous_page, notebook_tabs, NB_ATROUS)


def test_receptive_field_explorer_follows_layers_rate_and_pattern(atrous_page, notebook_tabs, artifacts_dir):
    ex = Explorer(
        atrous_page, "course-rf-explorer", "course-rf-readout", "course-rf-figure", artifacts_dir, "01-receptive-field"
    )
    ex.wait_until_ready()
    layers, rate = ex.slider("course-layers-slider"), ex.slider("course-rf-rate-slider")
    pattern = ex.box.locator(".course-rf-pattern select")
    ex.shot("0-initial")

    def readout_ok(text: str) -> bool:
        m = RF_RE.fullmatch(text)
        n = ex.value(layers)
        rates = pattern_rates(n, ex.value(rate), pattern.input_value())
        rf = receptive_field([(3, 1, r) for r in rates])
        return bool(m) and tuple(map(int, m.groups())) == (rf, rf, n)

    assert readout_ok(ex.readout_text()), f"initial readout {ex.readout_text()!r}"

    move_and_check(ex, layers, "ArrowRight", "1-layers-up", readout_ok)
    move_and_check(ex, rate, "ArrowRight", "2-rate-up", readout_ok)

    before_src, before_pixels = ex.image_src(), ex.figure.screenshot()
    new_pattern = "doubling" if pattern.input_value() != "doubling" else "same"
    pattern.select_option(new_pattern)
    ex.wait_for_update(before_src, readout_ok, f"choosing the {new_pattern!r} pattern")
    assert ex.shot(f"3-pattern-{new_pattern}") != before_pixels
    assert_no_unexpected_outside_requests(atrous_page, notebook_tabs, NB_ATROUS)


def test_aspp_rate_explorer_follows_its_three_rate_sliders(aspp_page, notebook_tabs, artifacts_dir):
    ex = Explorer(
        aspp_page, "course-aspp-explorer", "course-aspp-readout", "course-aspp-figure", artifacts_dir, "03-aspp-rates"
    )
    ex.wait_until_ready()
    sliders = [ex.slider("course-aspp-rate-slider", i) for i in range(3)]
    assert ex.box.locator(".course-aspp-rate-slider").count() == 3
    # The sliders run from 1 to the feature map's size (the explorer's contract).
    feature_size = int(float(sliders[0].locator(".noUi-handle").get_attribute("aria-valuemax")))
    ex.shot("0-initial")

    def readout_ok(text: str) -> bool:
        m = ASPP_RE.fullmatch(text)
        if not m:
            return False
        rates = [ex.value(s) for s in sliders]
        shares = [f"{100 * valid_weight_fraction(feature_size, r):.0f}%" for r in rates]
        return [int(v) for v in m.group(1).split(", ")] == rates and m.group(2).split(", ") == shares

    assert readout_ok(ex.readout_text()), f"initial readout {ex.readout_text()!r}"

    move_and_check(ex, sliders[0], "ArrowRight", "1-rate1-up", readout_ok)
    _, text = move_and_check(ex, sliders[2], "End", "2-rate3-max", readout_ok)
    assert ex.value(sliders[2]) == feature_size
    # At a rate as large as the map, only the centre tap of the 3x3 filter is ever valid.
    assert text.endswith(f"{100 * valid_weight_fraction(feature_size, feature_size):.0f}%")
    assert_no_unexpected_outside_requests(aspp_page, notebook_tabs, NB_ASPP)
