"""The dashboard in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser). Screenshots at 1280 px and 375 px land in ``artifacts/``.

Skipped when no system Chromium is installed, unless ``MLBA_REQUIRE_BROWSER=1`` (set by ``.ci/run``,
which installs Chromium first), so CI can never silently skip it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)

if CHROMIUM is None:
    if os.environ.get("MLBA_REQUIRE_BROWSER") == "1":
        raise RuntimeError("MLBA_REQUIRE_BROWSER=1 but no system chromium found (apt-get install chromium)")
    pytest.skip("no system chromium (apt-get install chromium)", allow_module_level=True)

if os.environ.get("MLBA_REQUIRE_BROWSER") == "1":
    import playwright.sync_api as sync_api  # CI: a missing package is a failure, not a skip
else:
    sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    import uvicorn

    from optimizer.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("dashboard server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(base_url)
    _wait_for_numbers(pg)
    yield pg
    context.close()
    assert not errors, errors


def _wait_for_numbers(pg) -> None:  # type: ignore[no-untyped-def]
    pg.wait_for_function("document.getElementById('k-decode').textContent.match(/\\d/)", timeout=15000)


def _decode(pg) -> float:  # type: ignore[no-untyped-def]
    return float(pg.inner_text("#k-decode").replace(",", ""))


def test_changing_a_device_updates_the_figures(page) -> None:  # type: ignore[no-untyped-def]
    before = _decode(page)
    assert "RTX 4090" in page.inner_text("#bars")
    device = page.locator("#devices input[list=device-names]").first
    device.fill("RTX 3060 12GB")
    device.dispatch_event("change")
    page.wait_for_function(f"parseFloat(document.getElementById('k-decode').textContent.replace(/,/g,'')) !== {before}")
    assert _decode(page) < before  # a 3060 has far less bandwidth than a 4090
    assert "3060" in page.inner_text("#bars")
    assert "tokens per kWh" in page.inner_text("#power-cost")


def test_bad_name_shows_a_readable_error(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#model", "Lama 3 8B zz")
    page.wait_for_selector("#error:not([hidden])")
    assert "did you mean" in page.inner_text("#error").lower()


def test_auto_fills_alternatives(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#model", "Llama 3 70B")
    page.locator("#devices input[type=number]").first.fill("2")
    _wait_until_status(page, "Llama 3 70B")
    page.click("#run-auto")
    page.wait_for_selector("#auto-table tr.chosen", timeout=30000)
    assert page.locator("#auto-table tr").count() >= 3
    assert page.inner_text("#auto-reason").startswith("Selected")


def test_share_link_restores_the_setup(page, base_url) -> None:  # type: ignore[no-untyped-def]
    page.fill("#model", "Qwen3 30B A3B")
    page.locator("#devices input[list=device-names]").first.fill("Mac Studio M3 Ultra 96GB")
    page.locator("#devices input[list=device-names]").first.dispatch_event("change")
    page.locator("#devices input[type=number]").first.fill("3")
    page.select_option("#topology", "ring")
    page.check("#rdma")
    page.fill("#price", "0.31")
    _wait_until_status(page, "Qwen3-30B")
    page.wait_for_function("document.querySelectorAll('#topo .node').length === 3")
    page.click("#share")
    page.wait_for_function("document.getElementById('share-out').textContent.includes('?s=')")
    url = page.inner_text("#share-out")
    fresh = page.context.new_page()
    fresh.goto(url)
    _wait_for_numbers(fresh)
    _wait_until_status(fresh, "Qwen3-30B")
    assert fresh.input_value("#model") == "Qwen3 30B A3B"
    assert fresh.input_value("#topology") == "ring" and fresh.is_checked("#rdma")
    assert fresh.input_value("#price") == "0.31"
    assert fresh.input_value("#devices input[type=number]") == "3"
    assert fresh.inner_text("#k-decode") == page.inner_text("#k-decode")
    fresh.close()


def test_drag_a_node_and_links_are_drawn(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("#devices input[type=number]").first.fill("3")
    page.wait_for_function("document.querySelectorAll('#topo .node').length === 3")
    node = page.locator("#topo .node").first
    node.scroll_into_view_if_needed()
    before = node.get_attribute("transform")
    box = node.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 90, steps=6)
    page.mouse.up()
    after = page.locator("#topo .node").first.get_attribute("transform")
    assert after != before
    assert page.locator("#topo line.edge").count() >= 2


def test_screenshots_at_desktop_and_phone_width(browser, base_url) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 375):
        context = browser.new_context(viewport={"width": width, "height": 900})
        pg = context.new_page()
        pg.goto(base_url)
        _wait_for_numbers(pg)
        # usable at phone width: nothing forces horizontal scrolling
        assert pg.evaluate("document.documentElement.scrollWidth") <= width + 1
        path = ARTIFACTS / f"dashboard-{width}.png"
        pg.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        context.close()


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return r, g, b


def test_contrast_test_helper_knows_black_on_white() -> None:
    assert _contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21, rel=1e-3)


def test_main_text_colours_meet_wcag_aa(page) -> None:  # type: ignore[no-untyped-def]
    pairs = page.evaluate(
        """() => {
        const bgOf = (el) => {
            for (let e = el; e; e = e.parentElement) {
                const c = getComputedStyle(e).backgroundColor;
                if (c && !c.endsWith(', 0)') && c !== 'transparent') return c;
            }
            return getComputedStyle(document.body).backgroundColor;
        };
        const sel = ['h1', 'h2', 'label', '.kpi .v', '.kpi .k', '.muted', 'th', 'td', 'button', '#status-line',
                     'input', '.warn'];
        const out = [];
        for (const s of sel) for (const e of document.querySelectorAll(s))
            if (e.offsetParent !== null) out.push([s, getComputedStyle(e).color, bgOf(e)]);
        return out; }"""
    )
    assert len(pairs) > 20
    ratios = [(s, fg, bg, round(_contrast(_rgb(fg), _rgb(bg)), 2)) for s, fg, bg in pairs]
    bad = [r for r in ratios if r[3] < 4.5]
    assert not bad, bad[:5]


def _wait_until_status(pg, text: str) -> None:  # type: ignore[no-untyped-def]
    pg.wait_for_function(
        f"document.getElementById('status-line').textContent.includes({text!r}) && "
        "!document.getElementById('status-line').textContent.includes('computing')",
        timeout=15000,
    )


def test_click_a_link_to_change_it_and_the_slow_link_pulses(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#quant", "fp16")
    page.fill("#runtime", "vLLM")
    page.select_option("#strategy", "tensor")
    page.locator("#devices input[type=number]").first.fill("2")
    page.wait_for_function("document.querySelectorAll('#topo line.edge').length === 1")
    _wait_until_status(page, "tensor")
    fast = _decode(page)
    page.once("dialog", lambda dialog: dialog.accept("1GbE"))
    edge = page.locator("#topo line.edge").first
    edge.scroll_into_view_if_needed()
    edge.click(force=True)
    # wait for the recomputed answer (the PCIe edge may already be the bottleneck before the change)
    page.wait_for_function("document.getElementById('topo').textContent.toLowerCase().includes('1gbe')")
    _wait_until_status(page, "tensor")
    # 1 GbE all-reduce is slower than the inferred PCIe link: the figure must drop (else this times out)
    page.wait_for_function(
        f"parseFloat(document.getElementById('k-decode').innerText.replace(/,/g, '')) < {fast}", timeout=15000
    )
    page.wait_for_selector("#topo line.edge.bottleneck", state="attached")
    assert _decode(page) < fast
    animation = page.eval_on_selector("#topo line.edge.bottleneck", "e => getComputedStyle(e).animationName")
    assert animation == "pulse"
