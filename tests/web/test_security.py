"""The console's own security, in a real browser: its Content-Security-Policy and its sign-in.

The page published to the bucket carries a CSP that allows scripts and styles from its own
origin only and requests to the API's origin only; using every main page reports no violation
(the listener is shown to work: an injected inline script and a request elsewhere are reported).
Sign-in takes temporary credentials (access key, secret and session token; the form prefers
them), keeps them in ``sessionStorage`` only, signs every request with the token, and sign-out
leaves nothing behind.
"""
import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import requests

from tests.web.console import (WAIT_MS, create, csp_violations, expecting, goto, new_page, shot,
                               sign_in)

CSP_META = "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"


def _directives(policy):
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


class _Inline(HTMLParser):
    """Inline code in a page: <script> without src, <style>, style= and on*= attributes."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]


def test_the_console_has_a_strict_csp_and_breaks_none_of_it(browser, console, live):
    expect = expecting()
    served = requests.get(console, timeout=10)
    assert served.status_code == 200
    inline = _Inline()
    inline.feed(served.text)
    assert inline.found == []

    create(live)
    tab = new_page(browser, console)
    policy = _directives(tab.evaluate(CSP_META))
    api = "{0.scheme}://{0.netloc}".format(urlsplit(live.url))
    assert policy["connect-src"] == [api]                 # the API's origin, nothing else
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]

    sign_in(tab)
    expect(tab.locator("tr[data-project=web]")).to_be_visible()
    for route, ready in (("project/web", "table.hosts tbody tr"), ("new", "form.project-form"),
                         ("project/web/edit", "form.project-form"), ("reports", ".report-tools")):
        goto(tab, route)
        tab.locator(ready).first.wait_for(timeout=WAIT_MS)
    tab.get_by_role("button", name="Generate now").click()
    expect(tab.locator(".generated")).to_contain_text("Report of")   # uPlot drew its charts
    tab.wait_for_timeout(300)
    assert csp_violations(tab) == []
    assert [m for m in tab.console_errors if "Content Security Policy" in m] == []
    assert tab.errors == []

    # the policy is enforced and the listener hears it: inline code and other origins are refused
    tab.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inline = 1'; document.body.append(s); }""")
    refused = tab.evaluate("fetch('http://127.0.0.1:9/elsewhere').then(() => 'sent', e => 'refused')")
    assert refused == "refused"
    tab.wait_for_timeout(200)
    assert tab.evaluate("window.__inline") is None
    violated = {v["directive"] for v in csp_violations(tab)}
    assert {"script-src-elem", "connect-src"} <= violated, violated
    tab.context.close()


def test_sign_in_with_temporary_credentials_kept_in_session_storage_only(browser, console, live):
    from chalicelib.auth import principals
    expect = expecting()
    temp = principals.add_principal("arn:aws:iam::000000000000:user/fabu-admins/carol",
                                    path=str(live.principals_path), session_token="FQoG-session-token-of-carol")
    tab = new_page(browser, console)
    form = tab.locator("section.signin")
    for field in ("Access key ID", "Secret access key", "Session token"):
        expect(tab.get_by_label(field, exact=True)).to_be_visible()
    expect(tab.get_by_label("Secret access key")).to_have_attribute("type", "password")
    expect(tab.get_by_label("Session token")).to_have_attribute("type", "password")
    expect(form.locator("#session-token-hint")).to_contain_text("Use temporary credentials")
    expect(form).to_contain_text("session storage")
    shot(tab, "signin-temporary")

    # the key of temporary credentials without its token is refused, and the form says why
    sign_in(tab, temp.access_key_id, temp.secret_access_key)
    expect(tab.locator("#signin-error")).to_contain_text("X-Amz-Security-Token")
    assert tab.evaluate("sessionStorage.length") == 0

    signed = []
    tab.on("request", lambda r: r.url.startswith(live.url) and r.method != "OPTIONS"
           and signed.append(r.headers.get("x-amz-security-token")))
    sign_in(tab, temp.access_key_id, temp.secret_access_key, temp.session_token)
    expect(tab.get_by_role("heading", name="Projects")).to_be_visible()
    expect(tab.locator("#nav .who")).to_contain_text("(temporary)")
    stored = json.loads(tab.evaluate("sessionStorage.getItem('fabu.credentials')"))
    assert stored == {"accessKeyId": temp.access_key_id, "secretAccessKey": temp.secret_access_key,
                      "sessionToken": temp.session_token}
    assert tab.evaluate("localStorage.length") == 0
    assert tab.context.cookies() == []
    assert signed and set(signed) == {temp.session_token}   # every request carries the token
    assert temp.secret_access_key not in tab.url

    # the operator is named as who did what (the project made through the API as carol)
    made = live.request("POST", "/api/v1/project", {"name": "web", "version": "1.0.0",
                                                    "hosts": ["web-1.example.com"]},
                        key=temp.access_key_id, secret=temp.secret_access_key,
                        headers={"X-Amz-Security-Token": temp.session_token})
    assert made.status_code == 201, made.text
    goto(tab, "project/web")
    expect(tab.locator(".header .actor")).to_have_text("carol")

    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    assert tab.evaluate("sessionStorage.length") == 0
    assert tab.evaluate("localStorage.length") == 0
    tab.reload()
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()   # nothing remembered
    assert re.search(r"#signin$", tab.url)
    tab.context.close()
