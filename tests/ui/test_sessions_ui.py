"""Browser sessions that end, login throttling and the session cookie's flags, through the real UI (TestClient on
`create_app`, the real databases). Time is the app's clock (``app.state.ui_clock``), moved by the tests."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from prelabel.api.app import create_app
from prelabel.config import Settings
from prelabel.service import auth
from prelabel.store.engine import Store
from prelabel.ui import SESSION_COOKIE

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery"
SECRET = "test-secret-" + "x" * 32

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

Login = Callable[..., str]


class Clock:
    """The UI's clock for a test: it moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_app(store: Store, clock: Clock, **overrides: Any) -> FastAPI:
    values: dict[str, Any] = {"secret_key": SECRET, "environment": "test", "run_worker": False, **overrides}
    app = create_app(Settings(database_url=store.url, **values), store=store)
    app.state.ui_clock = clock
    return app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(store: Store) -> dict[str, int]:
    return {name: auth.create_user(store, name, PASSWORD).id for name in ("leo", "rita")}


@pytest.fixture
def browsers(store: Store, clock: Clock) -> Iterator[Callable[..., TestClient]]:
    """Independent browsers on one app (or, with settings, on an app of their own)."""
    app = make_app(store, clock)
    clients: list[TestClient] = []

    def make(*, cookie: str | None = None, base_url: str = "http://testserver", **settings: Any) -> TestClient:
        c = TestClient(
            make_app(store, clock, **settings) if settings else app, base_url=base_url, follow_redirects=False
        )
        c.__enter__()
        if cookie is not None:
            c.cookies.set(SESSION_COOKIE, cookie)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    m = CSRF_RE.search(client.get(path).text)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def post_login(client: TestClient, username: str, password: str, **kwargs: Any) -> Any:
    data = {"username": username, "password": password, "next": "/", "csrf_token": csrf_of(client)}
    return client.post("/login", data=data, **kwargs)


def assert_sent_to_login(client: TestClient, path: str = "/") -> None:
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), (r.status_code, r.headers)


# --- sessions that end --------------------------------------------------------------------------------------
def test_a_cookie_captured_before_logout_is_refused_at_once(
    browsers: Callable[..., TestClient], users: dict[str, int], login: Login
) -> None:
    leo = browsers()
    csrf = login(leo, "leo")
    captured = leo.cookies[SESSION_COOKIE]
    assert browsers(cookie=captured).get("/").status_code == 200
    assert leo.post("/logout", data={"csrf_token": csrf}).status_code == 303

    page = browsers(cookie=captured)
    r = page.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    assert "Your session was ended" in page.get("/login").text  # the reason, on the login page
    hx = browsers(cookie=captured).get("/", headers={"HX-Request": "true"})
    assert hx.status_code == 401 and hx.headers["hx-redirect"] == "/login"
    api = browsers(cookie=captured).get("/", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthenticated"


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    browsers: Callable[..., TestClient], users: dict[str, int], login: Login
) -> None:
    here, there = browsers(), browsers()
    csrf = login(here, "leo")
    login(there, "leo")
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    r = here.post("/account/password", data={**form, "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    page = here.get("/account")
    assert page.status_code == 200 and "Password changed; your 1 other session ended" in page.text
    assert_sent_to_login(there)
    assert post_login(browsers(), "leo", PASSWORD).status_code == 401
    assert post_login(browsers(), "leo", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        ("not it at all", NEW_PASSWORD, NEW_PASSWORD, "The current password is wrong."),
        (PASSWORD, NEW_PASSWORD, "typo", "The two new passwords differ"),
        (PASSWORD, "short", "short", "at least 8 characters"),
        (PASSWORD, PASSWORD, PASSWORD, "same as the current one"),
    ],
)
def test_the_password_form_refuses_bad_input_clearly(
    browsers: Callable[..., TestClient],
    users: dict[str, int],
    login: Login,
    current: str,
    new: str,
    again: str,
    message: str,
) -> None:
    leo = browsers()
    csrf = login(leo, "leo")
    data = {"current_password": current, "new_password": new, "new_password_again": again, "csrf_token": csrf}
    r = leo.post("/account/password", data=data)
    assert r.status_code == 422 and message in r.text
    assert 'role="alert"' in r.text
    assert leo.get("/").status_code == 200  # still logged in, password unchanged
    assert post_login(browsers(), "leo", PASSWORD).status_code == 303


def test_the_password_form_needs_the_csrf_token(
    browsers: Callable[..., TestClient], users: dict[str, int], login: Login
) -> None:
    leo = browsers()
    login(leo, "leo")
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert leo.post("/account/password", data=form).status_code == 403
    assert post_login(browsers(), "leo", PASSWORD).status_code == 303


def test_the_header_links_the_account_page(
    browsers: Callable[..., TestClient], users: dict[str, int], login: Login
) -> None:
    leo = browsers()
    login(leo, "leo")
    home = leo.get("/").text
    assert 'href="/account"' in home and home.index('href="/account"') < home.index('action="/logout"')
    assert "<script>" not in leo.get("/account").text  # the CSP allows no inline script


def test_deactivating_a_user_ends_all_their_sessions(
    browsers: Callable[..., TestClient], store: Store, users: dict[str, int], login: Login
) -> None:
    one, two, rita = browsers(), browsers(), browsers()
    for b in (one, two):
        login(b, "leo")
    login(rita, "rita")
    auth.set_user_active(store, auth.COMMAND_LINE, users["leo"], False)
    assert_sent_to_login(one)
    assert_sent_to_login(two)
    assert rita.get("/").status_code == 200
    assert post_login(browsers(), "leo", PASSWORD).status_code == 401


def test_a_superuser_ending_one_session_logs_that_browser_out(
    browsers: Callable[..., TestClient], store: Store, users: dict[str, int], login: Login
) -> None:
    one, two = browsers(), browsers()
    login(one, "leo")
    login(two, "leo")
    _newest, older = auth.list_sessions(store, auth.COMMAND_LINE, users["leo"])
    assert auth.end_sessions(store, auth.COMMAND_LINE, users["leo"], older.id) == 1
    assert_sent_to_login(one)
    assert two.get("/").status_code == 200


def test_sessions_expire_when_idle_and_at_their_maximum_age(
    browsers: Callable[..., TestClient], clock: Clock, users: dict[str, int], login: Login
) -> None:
    settings = {"session_idle_s": 3600, "session_max_age_s": 7200}
    busy, idle = browsers(**settings), browsers(**settings)
    login(busy, "leo")
    login(idle, "rita")
    clock.advance(minutes=50)
    assert busy.get("/").status_code == 200  # activity moves the idle expiry
    clock.advance(minutes=50)
    assert busy.get("/").status_code == 200
    assert_sent_to_login(idle)  # 100 minutes without a request
    clock.advance(minutes=21)
    assert_sent_to_login(busy)  # 121 minutes after logging in
    assert "maximum age" in busy.get("/login").text


# --- login throttling ----------------------------------------------------------------------------------------
def test_ten_wrong_passwords_then_429_with_retry_after_until_the_delay_passes(
    browsers: Callable[..., TestClient], clock: Clock, users: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    b = browsers()
    assert [post_login(b, "leo", "wrong password").status_code for _ in range(10)] == [401] * 10
    with caplog.at_level(logging.WARNING, logger="prelabel"):
        r = post_login(b, "leo", PASSWORD)  # right, but delayed: refused without being checked
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "Try again in 1 second" in r.text and 'id="login-error"' in r.text
    assert any("login throttled for 1s: user name 'leo'" in rec.getMessage() for rec in caplog.records)
    clock.advance(seconds=1)
    assert post_login(b, "leo", PASSWORD).status_code == 303


def test_the_address_limit_holds_across_user_names(browsers: Callable[..., TestClient], users: dict[str, int]) -> None:
    b = browsers()
    assert [post_login(b, f"guess{n}", "wrong password").status_code for n in range(10)] == [401] * 10
    r = post_login(b, "rita", PASSWORD)
    assert r.status_code == 429 and "Too many wrong passwords" in r.text


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    browsers: Callable[..., TestClient], users: dict[str, int]
) -> None:
    b = browsers(trusted_proxies="testclient")  # TestClient's own address plays the proxy

    def via(client_address: str, username: str, password: str) -> int:
        headers = {"X-Forwarded-For": f"{client_address}, testclient"}
        return int(post_login(b, username, password, headers=headers).status_code)

    assert [via("198.51.100.1", f"guess{n}", "wrong password") for n in range(10)] == [401] * 10
    assert via("198.51.100.1", "rita", PASSWORD) == 429
    assert via("198.51.100.2", "rita", PASSWORD) == 303


def test_the_counters_survive_a_new_app_on_the_same_database(
    browsers: Callable[..., TestClient], users: dict[str, int]
) -> None:
    first = browsers()
    for _ in range(10):
        post_login(first, "leo", "wrong password")
    restarted = browsers(session_idle_s=3600)  # a new create_app on the same database
    assert post_login(restarted, "leo", PASSWORD).status_code == 429


# --- the session cookie's flags -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environment", "host", "force", "secure"),
    [
        ("development", "127.0.0.1", None, False),
        ("development", "localhost", None, False),
        ("test", "::1", None, False),
        ("development", "0.0.0.0", None, True),
        ("development", "192.168.1.5", None, True),
        ("production", "127.0.0.1", None, True),
        ("development", "127.0.0.1", True, True),
        ("production", "0.0.0.0", False, False),
    ],
)
def test_the_session_cookie_is_secure_unless_development_on_loopback(
    browsers: Callable[..., TestClient], environment: str, host: str, force: bool | None, secure: bool
) -> None:
    b = browsers(environment=environment, host=host, secure_cookies=force)
    cookie = b.get("/login").headers["set-cookie"].lower()
    flags = {part.strip() for part in cookie.split(";")}
    assert "httponly" in flags and "samesite=lax" in flags
    assert ("secure" in flags) is secure


def test_in_production_the_openapi_schema_needs_a_live_session(
    browsers: Callable[..., TestClient], users: dict[str, int], login: Login
) -> None:
    leo = browsers(environment="production", base_url="https://testserver")
    csrf = login(leo, "leo")
    captured = leo.cookies[SESSION_COOKIE]
    assert leo.get("/openapi.json").status_code == 200
    leo.post("/logout", data={"csrf_token": csrf})
    leo.cookies.set(SESSION_COOKIE, captured)
    assert leo.get("/openapi.json").status_code == 401
