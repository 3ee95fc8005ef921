"""Helpers of the console's browser tests: a simulated host over HTTP, project setup, waits.

The fixtures (the built site, Chromium, the published console, a signed-in tab) are in
``tests/web/conftest.py``; these are the plain functions the test files share.
"""
import hashlib
import os

from chalicelib.states import DeployKind, Phase, ReleaseState, ReportStatus
from tests.conftest import ADMIN_KEY, ADMIN_SECRET, ROOT, base_project

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
WEB = os.path.join(ROOT, "web")
WAIT_MS = 15000
PHASES = (Phase.PRE_DEPLOY, Phase.DO_DEPLOY, Phase.POST_DEPLOY)

#: Collected in every tab before the console's own scripts run: CSP violations and the API
#: requests the page made (method, path).
INIT_SCRIPT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample}));
"""


def new_page(browser, url, viewport=None, clock=False):
    """A tab in a fresh context (its own sessionStorage) on ``url``; records page errors, CSP
    violations and console errors. ``clock``: install Playwright's fake clock first."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.errors = []
    page.console_errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    if clock:
        page.clock.install()
    page.goto(url)
    return page


def csp_violations(page):
    return page.evaluate("window.__csp")


def sign_in(tab, key=ADMIN_KEY, secret=ADMIN_SECRET, token=None):
    tab.get_by_label("Access key ID").fill(key)
    tab.get_by_label("Secret access key").fill(secret)
    if token is not None:
        tab.get_by_label("Session token").fill(token)
    tab.get_by_role("button", name="Sign in").click()


def shot(tab, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    tab.screenshot(path=os.path.join(ARTIFACTS, name + ".png"), full_page=True)


def expecting():
    from playwright.sync_api import expect as _expect
    _expect.set_options(timeout=WAIT_MS)
    return _expect


def goto(page, fragment):
    """Open a route of the console in the same tab (keeps the session)."""
    page.goto(page.url.split("#")[0] + "#" + fragment)


def confirm(page, button, ok=None):
    """Click ``button``, check the confirmation dialog opened, and confirm with ``ok``."""
    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.locator("dialog#confirm")
    expecting()(dialog).to_be_visible()
    dialog.get_by_role("button", name=ok or button, exact=True).click()
    expecting()(dialog).to_be_hidden()


def ready_release(project, version, body=b"tarball"):
    """Test setup at the storage boundary: the build worker would have produced this."""
    from chalicelib.models import Release
    Release(project, version, state=ReleaseState.READY, s3_key=f"releases/{project}/{version}.tgz",
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()


class Host:
    """One simulated host speaking the host protocol over HTTP with its own SigV4 key."""

    def __init__(self, live, name):
        self.live, self.name = live, name
        self.key, self.secret = live.add_host(name)

    def _call(self, method, path, body=None):
        return self.live.request(method, path, body, key=self.key, secret=self.secret)

    def run_cron(self, status=ReportStatus.OK):
        """Poll; when something is pending, fetch the script and report every phase (``status``
        for the last one, ok before it)."""
        polled = self._call("GET", "/api/v1/" + self.name)
        assert polled.status_code in (200, 204), polled.text
        if polled.status_code == 204:
            return []
        script = self._call("GET", f"/api/v1/{self.name}/deploy")
        assert script.status_code == 200, script.text
        done = []
        for item in polled.json()["pending"]:
            if item["deploy_id"] not in script.text:
                continue
            phases = (Phase.ROLLBACK,) if item["kind"] == DeployKind.ROLLBACK else PHASES
            for phase in phases:
                last = phase == phases[-1]
                outcome = status if last else ReportStatus.OK
                failed = outcome == ReportStatus.FAILED
                body = {"project": item["project"], "version": item["version"],
                        "deploy_id": item["deploy_id"], "phase": phase, "status": outcome,
                        "exit_code": 1 if failed else 0,
                        "output": f"{phase} of {item['version']} on {self.name}: {outcome}"}
                if not failed:
                    body["running_version"] = item["version"]
                report = self._call("POST", f"/api/v1/{self.name}/report", body)
                assert report.status_code == 200, report.text
            done.append(item)
        return done


def create(live, **overrides):
    response = live.request("POST", "/api/v1/project", base_project(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def project(live, name="web"):
    return live.request("GET", "/api/v1/project/" + name).json()


def rollout(live, name="web"):
    return project(live, name)["rollout"]


def wave_of(live, host, name="web"):
    rows = project(live, name)["hosts_view"]["hosts"]
    return next(r["wave"] for r in rows if r["host"] == host)


def tick_until(live, done, name="web", rounds=30):
    """Tick until ``done(project)`` holds (a tick has a time budget: planning hundreds of hosts
    may take a few); the project's JSON."""
    import time
    for _ in range(rounds):
        live.tick()
        current = project(live, name)
        if done(current):
            return current
        time.sleep(0.5)
    raise AssertionError(f"still not there after {rounds} ticks: {current['rollout']}")


def deploy_everywhere(live, hosts, name="web"):
    """Run every host's cron and tick until the project's rollout stops moving (≤ 10 rounds)."""
    for _ in range(10):
        moved = [h.run_cron() for h in hosts]
        live.tick()
        if not any(moved):
            return rollout(live, name)
    return rollout(live, name)
