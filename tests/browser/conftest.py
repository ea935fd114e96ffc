"""Browser tests: Playwright driving Debian's headless Chromium against pytest-django's ``live_server``.

* One Chromium per run of this package (``browser``), a fresh context and page per test (``page``: 1280x800,
  its own cookies, ``base_url`` the live server, short timeouts so a broken page fails fast).
* ``console_errors``: what the page logged as an error or threw, collected for the test to assert on.
* ``staff_user(role)``: a staff user in one of the roles of ``alerts/migrations/0003_roles.py``
  (the groups are put back first: live-server tests are transactional, and the flush after an
  earlier one empties them) in the test organization or another one, or a superuser;
  ``log_in(page, user)`` goes through the real login form.
* A failing browser test leaves a full-page screenshot in ``var/test-screenshots/<test name>.png``.

The browser is ``/usr/bin/chromium`` (``CHROMIUM`` overrides it), which ``.ci/run`` installs.
Playwright's own browser download is not used. Without Chromium or Playwright these tests skip
with the reason, except in CI (``CI`` set), where they must run and so fail instead.
"""

import importlib
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from tests.factories import UserFactory, give_role

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT_DIR = Path(settings.BASE_DIR) / "var" / "test-screenshots"
VIEWPORT = {"width": 1366, "height": 768}
#: Playwright's waits (actions, navigations, ``expect``) give up after this many milliseconds.
TIMEOUT_MS = 5_000
PASSWORD = "secret-pass-123"  # UserFactory's

roles = importlib.import_module("alerts.migrations.0003_roles")
CLERK, MANAGER, ADMINISTRATOR = roles.CLERK, roles.MANAGER, roles.ADMINISTRATOR


def skip_unless_browser() -> None:
    """Call at the top of a browser test module: skip it, with the reason, when it cannot run here.

    In CI nothing is skipped: a missing browser or library is an error there, not a pass.
    """
    missing = []
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        missing.append("the playwright package (requirements.txt)")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium; .ci/run does it)")
    if missing and not os.environ.get("CI"):
        pytest.skip(f"browser tests need {' and '.join(missing)}", allow_module_level=True)


@pytest.fixture(scope="package")
def browser():
    """One Chromium for all the browser tests of a run (they are all in this package)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    # Playwright's sync API keeps an asyncio loop on this thread, which makes Django refuse ORM
    # calls from the test ("you cannot call this from an async context"). The tests are plain sync
    # code and the loop only talks to the browser, so the check is off while the browser is open
    # (the package's tests), and on again for the rest of the suite.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # root in CI has no user namespaces for the sandbox; /dev/shm is small in containers; and a test
            # browser has no business calling home
            args=[
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def console_errors(page) -> list[str]:
    """The page's console errors and uncaught exceptions so far (a live list)."""
    return page.console_errors


@pytest.fixture
def staff_user(transactional_db):
    """``staff_user(MANAGER)`` (or CLERK, ADMINISTRATOR), or ``staff_user()`` for a superuser.

    A role's user is a member of the test organization, which owns what the factories make
    (``UserFactory``'s ``organization``), so they see the test's data (``inventory.scoping``), or
    with ``organization=``, of that one alone."""

    def _staff_user(role: str | None = None, *, username: str | None = None, organization=None):
        if role is None:
            return UserFactory(username=username or "root", is_superuser=True)
        roles.install(apps, SimpleNamespace(connection=connection))
        user = UserFactory(username=username or re.sub(r"\W+", "-", role.lower()), organization=organization)
        return give_role(user, role, organization)

    return _staff_user


@pytest.fixture
def log_in():
    """``log_in(page, user)``: through the admin's login form, landing on the admin index."""
    from playwright.sync_api import expect

    def _log_in(page, user, password: str = PASSWORD):
        page.goto("/admin/login/?next=/admin/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/admin/$"))
        expect(page.locator("#user-tools")).to_contain_text(re.compile(re.escape(user.get_username()), re.I))

    return _log_in


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        page = item.funcargs.get("page")
        if page is not None and not page.is_closed():
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            path = SCREENSHOT_DIR / (re.sub(r"[^\w.-]+", "_", item.name) + ".png")
            try:
                page.screenshot(path=str(path), full_page=True, timeout=TIMEOUT_MS)
            except Exception as error:  # a screenshot that fails must not hide the test's own failure
                report.sections.append(("browser screenshot", f"could not save {path}: {error}"))
            else:
                report.sections.append(("browser screenshot", str(path)))
    return report
