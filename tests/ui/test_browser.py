"""Browser tests: Playwright driving Debian's Chromium against a real `prelabel serve` (with its background
trainer) on 127.0.0.1 and a temporary SQLite database.

Scenario: log in, import a CSV of real disaster tweets, label ten assets with the keyboard only, see the
trainer's prediction appear and accept it with Enter, undo, review, and the dashboard with "Train now" and
live job progress. Screenshots of every view at 1280x800 and phone width go to test-output/screenshots/.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from prelabel.service import auth, projects
from prelabel.service.assets import import_assets
from prelabel.service.dto import AssetIn
from prelabel.store import tables as t
from prelabel.store.engine import Store

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery"
INTERFACE = {
    "jobs": [
        {
            "name": "JOB_0",
            "input": "single",
            "instruction": "Is this tweet about a real disaster?",
            "categories": [
                {"key": "DISASTER", "name": "Disaster", "hotkey": "d"},
                {"key": "NOT_DISASTER", "name": "Not a disaster", "hotkey": "n"},
            ],
        }
    ]
}
MULTI_INTERFACE = {
    "jobs": [
        INTERFACE["jobs"][0],
        {
            "name": "topics",
            "input": "multi",
            "required": False,
            "categories": [
                {"key": "FIRE", "name": "Fire"},
                {"key": "FLOOD", "name": "Flood"},
                {"key": "STORM", "name": "Storm", "hotkey": "s"},
            ],
        },
    ]
}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EVIL = (
    '<script>window.__xss = 1; alert("script")</script>'
    '<img src=x onerror="window.__xss = 2; alert(1)"> 🔥 &amp; مرحبا'
)


@dataclass
class Server:
    base: str
    store: Store
    project_id: int
    gold: dict[str, str]
    log: Path
    multi_project_id: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "keyword", "location", "text"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in ("id", "keyword", "location", "text")})
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    d = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{d / 'ui.db'}"
    store = Store(url)
    store.upgrade()
    alice = auth.create_user(store, "alice", PASSWORD)
    admin = auth.get_actor(store, alice.id)
    project = projects.create_project(
        store,
        admin,
        title="Disaster tweets",
        interface=INTERFACE,
        description="Browser test project: real tweets from the Kaggle set.",
        settings={"zero_shot": False},  # the page shows "No prediction yet" until the first fast model
    )
    with (datasets / "disaster_tweets" / "train.csv").open(newline="", encoding="utf-8") as f:
        all_rows = list(csv.DictReader(f))
    # the file starts with a run of disasters: interleave both classes so ten labels can train a model
    pos = [r for r in all_rows if r["target"] == "1"][:20]
    neg = [r for r in all_rows if r["target"] == "0"][:20]
    rows = [r for pair in zip(pos, neg, strict=True) for r in pair]
    gold = {r["id"]: "DISASTER" if r["target"] == "1" else "NOT_DISASTER" for r in rows}
    (d / "tweets.csv").write_bytes(_csv_bytes(rows))
    (d / "evil.csv").write_bytes(
        _csv_bytes([{"id": "evil-1", "keyword": "<b>kw</b>", "location": "", "text": EVIL}])
    )

    port = _free_port()
    env = {
        **os.environ,
        "PRELABEL_SECRET_KEY": "browser-test-" + "k" * 32,
        "PRELABEL_DATA_DIR": str(d / "data"),
        "PRELABEL_LOG_LEVEL": "WARNING",
    }
    log = d / "server.log"
    exe = Path(sys.executable).parent / "prelabel"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database-url",
                url,
                "--worker",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so teardown can end the trainer it spawns
        )
    base = f"http://127.0.0.1:{port}"
    # no zero-shot version here: the keyboard test starts from a page with nothing preselected
    multi = projects.create_project(
        store, admin, title="Two jobs", interface=MULTI_INTERFACE, settings={"zero_shot": False}
    )
    import_assets(store, admin, multi.id, [AssetIn(external_id=r["id"], content=r["text"]) for r in rows[:3]])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prelabel serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(base, store, project.id, gold, d, multi.id)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        # `prelabel serve` may exit on SIGTERM without stopping its trainer process (uvicorn re-raises the
        # signal): end whatever is left of the process group this fixture started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, base: str, username: str = "alice") -> None:
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")


def _asset_external_id(page: Any) -> str:
    return str(page.locator("#asset-h").inner_text()).replace("Asset", "", 1).split("·")[0].strip()


def _press_and_wait(page: Any, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def test_label_predict_accept_undo_review_dashboard(server: Server, browser: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the Content-Security-Policy header holds for every page of this walk: Chromium reports a violation
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    base, pid = server.base, server.project_id

    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/login"))
    _shot(page, "desktop-01-login")
    page.fill("#username", "alice")
    page.fill("#password", "wrong password")
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-error")
    assert "Wrong username or password." in page.inner_text("#login-error")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    _shot(page, "desktop-02-projects")

    # import a CSV through the form, choosing the columns
    page.click(f"a[href='/projects/{pid}']")
    page.set_input_files("#file", str(server.log / "tweets.csv"))
    page.wait_for_selector("#columns-found:has-text('keyword')")  # a selector: the page's CSP forbids eval
    assert page.input_value("#id_column") == "id"  # guessed from the file's header
    page.fill("#metadata_columns", "keyword, location")
    page.click("[data-import-form] button[type=submit]")
    page.wait_for_selector(".flash-ok")
    assert "40 created" in page.inner_text(".flash-ok")
    _shot(page, "desktop-03-project")

    # label ten assets with the keyboard only: a category's hotkey or number, then Enter
    page.goto(f"{base}/projects/{pid}/label")
    assert "No prediction yet" in page.content()
    _shot(page, "desktop-04-label-no-prediction")
    labeled: list[str] = []
    for i in range(10):
        ext = _asset_external_id(page)
        assert ext not in labeled
        truth = server.gold[ext]
        key = ("d" if truth == "DISASTER" else "n") if i % 2 else ("1" if truth == "DISASTER" else "2")
        page.keyboard.press(key)
        assert page.is_checked(f"input[value='{truth}']")
        _press_and_wait(page, "Enter")
        labeled.append(ext)
    with server.store.transaction(read_only=True) as s:
        labs = s.execute(
            select(t.Label.json_response, t.Label.seconds_to_label, t.Asset.external_id).join(
                t.Asset, t.Asset.id == t.Label.asset_id
            )
        ).all()
    assert len(labs) == 10
    assert all(sec is not None and sec > 0 for _, sec, _ in labs)
    assert {ext: r["JOB_0"]["categories"][0]["name"] for r, _, ext in labs} == {
        e: server.gold[e] for e in labeled
    }

    # the background trainer of `prelabel serve` trains on the ten labels; the page's status line (htmx) says
    # when the new model has a suggestion for the text on screen
    assert page.locator("#model-status[hx-trigger]").count() == 1
    try:
        page.wait_for_selector("#model-status a", timeout=120_000)
    except Exception:
        pytest.fail(
            "no prediction within 120 s; server log:\n" + (server.log / "server.log").read_text()[-3000:]
        )
    assert "now has a suggestion" in page.inner_text("#model-status")
    with page.expect_navigation():
        page.click("#model-status a")
    assert "suggests" in page.inner_text("main")
    _shot(page, "desktop-05-label-with-prediction")
    ext = _asset_external_id(page)
    predicted = page.locator("input[name='job:JOB_0']:checked").get_attribute("value")
    assert predicted in ("DISASTER", "NOT_DISASTER")
    assert re.search(r"\d+%", page.inner_text(".choice.predicted .conf-num"))
    mv_id = int(page.locator("input[name=model_version_id]").get_attribute("value") or 0)
    _press_and_wait(page, "Enter")  # accept the prediction
    with server.store.transaction(read_only=True) as s:
        lab = s.execute(
            select(t.Label).join(t.Asset, t.Asset.id == t.Label.asset_id).where(t.Asset.external_id == ext)
        ).scalar_one()
        assert lab.model_version_id == mv_id and lab.agrees_with_prediction is True
        assert lab.json_response == {"JOB_0": {"categories": [{"name": predicted}]}}

    # undo it with Ctrl+Z: the label is gone and the same asset is shown again
    _press_and_wait(page, "Control+z")
    assert "Undone" in page.inner_text(".flash-ok")
    assert _asset_external_id(page) == ext
    _shot(page, "desktop-06-label-after-undo")
    with server.store.transaction(read_only=True) as s:
        n = len(
            s.execute(
                select(t.Label.id)
                .join(t.Asset, t.Asset.id == t.Label.asset_id)
                .where(t.Asset.external_id == ext)
            ).all()
        )
    assert n == 0
    # skip it with Esc
    _press_and_wait(page, "Escape")
    assert _asset_external_id(page) != ext

    # review: flag one labeled asset as the trainer's label-error detection would, then accept it
    with server.store.transaction() as s:
        s.execute(
            update(t.Asset)
            .where(t.Asset.external_id == labeled[0], t.Asset.project_id == pid)
            .values(review_reason="label_error", review_score=0.8)
        )
        flagged_id = s.execute(
            select(t.Asset.id).where(t.Asset.external_id == labeled[0], t.Asset.project_id == pid)
        ).scalar_one()
    page.click("nav >> text=Review")
    page.wait_for_url(f"{base}/projects/{pid}/review")
    assert page.locator(".review-item").count() >= 1
    _shot(page, "desktop-07-review")
    with page.expect_navigation():
        # by the asset's own form: a text match on the external id ("26") also hits "126", "260", tweet texts…
        page.locator(f"form[aria-labelledby='rv-{flagged_id}'] button[value=accept]").click()
    assert "Accepted the label" in page.inner_text(".flash-ok")

    # dashboard: the trainer's version, then "Train now" with live progress
    page.click("nav >> text=Dashboard")
    page.wait_for_url(f"{base}/projects/{pid}/dashboard")
    assert "automl-1" in page.inner_text("main")
    page.select_option("#tier", "fast")
    page.click(".train-form button[type=submit]")
    page.wait_for_selector(".flash-ok")
    assert "Training queued" in page.inner_text(".flash-ok")
    # htmx polls the job table and reloads the page when the job is done
    page.wait_for_selector("#jobs tbody tr:first-child.job-succeeded", timeout=120_000)
    page.wait_for_load_state()
    _shot(page, "desktop-08-dashboard")
    # a learning curve over the versions that have a score: the page shows a version's honest estimate once it
    # is computed (after publishing, in the background), so wait for those, then reload and count
    from prelabel.service.analytics import model_score

    def shown_scores() -> list[float | None] | None:
        with server.store.transaction(read_only=True) as s:
            metrics = list(s.scalars(select(t.ModelVersion.metrics).where(
                t.ModelVersion.project_id == pid, t.ModelVersion.status == "READY")))  # fmt: skip
        if any((m or {}).get("honest", {}).get("status") == "pending" for m in metrics):
            return None
        return [model_score(m)[0] for m in metrics]

    deadline = time.time() + 90
    while (scores := shown_scores()) is None and time.time() < deadline:
        time.sleep(0.5)
    assert scores is not None, "an honest estimate was still pending after 90 s"
    page.reload()
    if any(x is not None for x in scores):
        assert page.locator("svg.chart circle").count() == sum(x is not None for x in scores)
    else:
        assert "Appears once a model version has a score." in page.inner_text("main")
    assert not errors, errors
    ctx.close()


def test_phone_width_views(server: Server, browser: Any) -> None:
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    base, pid = server.base, server.project_id
    page.goto(base + "/login")
    _shot(page, "phone-01-login")
    _login(page, base)
    _shot(page, "phone-02-projects")
    for name, path in (
        ("03-project", ""),
        ("04-label", "/label"),
        ("05-review", "/review"),
        ("06-dashboard", "/dashboard"),
    ):
        page.goto(f"{base}/projects/{pid}{path}")
        _shot(page, f"phone-{name}")
        # nothing wider than the screen except inside scrollable table wrappers
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"] + 1, (name, overflow)
    ctx.close()


def test_hostile_text_is_shown_as_text_and_runs_nothing(server: Server, browser: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP)
    page = ctx.new_page()
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(m.text))
    base, pid = server.base, server.project_id
    _login(page, base)
    page.goto(f"{base}/projects/{pid}")
    page.set_input_files("#file", str(server.log / "evil.csv"))
    page.fill("#id_column", "id")
    page.click("[data-import-form] button[type=submit]")
    page.wait_for_selector(".flash-ok")
    with server.store.transaction(read_only=True) as s:
        aid = s.scalar(select(t.Asset.id).where(t.Asset.external_id == "evil-1"))
    page.goto(f"{base}/projects/{pid}/label?asset={aid}")
    page.wait_for_timeout(300)
    assert page.inner_text("[data-asset-text]") == EVIL
    assert "<b>kw</b>" in page.inner_text(".metadata")
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert not dialogs and not any("xss" in c for c in console)
    _shot(page, "desktop-09-hostile-text")
    ctx.close()


def test_two_jobs_and_multi_choice_with_the_keyboard(server: Server, browser: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP)
    page = ctx.new_page()
    _login(page, server.base)
    pid = server.multi_project_id
    page.goto(f"{server.base}/projects/{pid}/label")
    ext = _asset_external_id(page)
    page.keyboard.press("Enter")  # nothing chosen for the required job: refused in the page
    assert page.is_visible("[data-client-error]")
    assert "Choose a category for JOB_0" in page.inner_text("[data-client-error]")
    page.keyboard.press("2")  # JOB_0 = NOT_DISASTER, then the next job becomes active
    page.keyboard.press("1")  # topics: toggle FIRE on
    page.keyboard.press("2")  # FLOOD on
    page.keyboard.press("2")  # FLOOD off again
    page.keyboard.press("s")  # STORM by its hotkey
    assert page.locator("fieldset.job.active").get_attribute("data-job") == "topics"
    _shot(page, "desktop-10-label-two-jobs")
    _press_and_wait(page, "Enter")
    with server.store.transaction(read_only=True) as s:
        lab = s.execute(
            select(t.Label.json_response)
            .join(t.Asset, t.Asset.id == t.Label.asset_id)
            .where(t.Asset.project_id == pid, t.Asset.external_id == ext)
        ).scalar_one()
    assert lab == {
        "JOB_0": {"categories": [{"name": "NOT_DISASTER"}]},
        "topics": {"categories": [{"name": "FIRE"}, {"name": "STORM"}]},
    }
    ctx.close()
