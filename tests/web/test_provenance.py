"""The project page says what each release was built from and what the rolled-out version changes,
in a real browser; the releases are seeded at the storage boundary as the build worker leaves them.
"""
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from tests.web.console import create, expecting, goto, shot

FIRST, FIX, SEARCH = "1" * 40, "2" * 40, "3" * 40


def _release(version, prov):
    Release("web", version, state=ReleaseState.READY, s3_key=f"releases/web/{version}.tgz",
            sha256="a" * 64, size=10, provenance=prov).save()


def test_the_release_section_shows_the_revision_and_whats_changing(page, live):
    expect = expecting()
    create(live, version="1.1.0")
    _release("1.0.0", {"type": "git", "url": "https://git.example.com/web.git", "ref": "v1",
                       "revision": FIRST, "commit": FIRST, "subject": "first"})
    _release("1.1.0", {
        "type": "git", "url": "https://git.example.com/web.git", "ref": "v2", "revision": SEARCH,
        "commit": SEARCH, "subject": "add search <b>",
        "changes": {"previous_version": "1.0.0", "previous_commit": FIRST, "total": 2,
                    "truncated": False, "commits": [
                        {"sha": SEARCH, "subject": "add search <b>", "author": "Bob Builder",
                         "date": "2026-11-04T08:00:00Z"},
                        {"sha": FIX, "subject": "fix the login", "author": "Alice Liddell",
                         "date": "2026-11-03T08:00:00Z"}]}})
    goto(page, "project/web")
    block = page.locator(".provenance[data-version='1.1.0']")
    expect(block).to_contain_text("1.1.0 built from git 3333333 'add search <b>'")
    changing = block.locator("details.whats-changing")
    expect(changing.locator("summary")).to_have_text("What's changing since 1.0.0: 2 commits")
    expect(changing.locator("li.commit")).to_have_count(2)
    assert changing.locator("li.commit .subject").all_inner_texts() == ["add search <b>",
                                                                        "fix the login"]
    expect(changing.locator("li.commit").first).to_contain_text("Bob Builder, 2026-11-04")
    changing.locator("summary").click()  # collapsible
    expect(changing.locator("li.commit").first).to_be_hidden()
    row = page.locator("table.releases tr[data-version='1.0.0'] .built-from")
    expect(row).to_have_text("git 1111111 'first'")
    shot(page, "provenance")
