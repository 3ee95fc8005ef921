"""The promotion chain on the project page, in a real browser (one page load).

``staging`` rolled 2.1.0 out (a simulated host over HTTP); ``prod`` (2.0.0, rolled out) promotes
from it after a one-hour soak. The page draws the chain "staging 2.1.0 ✓ soaking 59 min → prod
2.0.0" with why nothing is promoted yet; the button reads "Force promote 2.1.0…" because the
soak is not over, asks for a reason, and sends ``POST .../promote-release`` with ``force`` and
the reason; the chain then shows prod at 2.1.0 and the API recorded the forced promotion.
"""
import json
import re

from chalicelib.states import RolloutState
from tests.web.console import (Host, create, deploy_everywhere, expecting, goto, project,
                               ready_release, shot)


def test_the_chain_and_a_forced_promotion_with_its_reason(page, live):
    expect = expecting()
    create(live, name="staging", version="2.1.0", hosts=["stg-1.example.com"])
    ready_release("staging", "2.1.0")
    live.tick()
    assert deploy_everywhere(live, [Host(live, "stg-1.example.com")], "staging")["state"] == \
        RolloutState.SUCCEEDED
    create(live, name="prod", version="2.0.0", hosts=["prd-1.example.com"],
           promote_from={"project": "staging", "soak_seconds": 3600})
    ready_release("prod", "2.0.0")
    live.tick()
    assert deploy_everywhere(live, [Host(live, "prd-1.example.com")], "prod")["state"] == \
        RolloutState.SUCCEEDED
    posts = []
    page.on("request", lambda r: r.method == "POST" and "/promote-release" in r.url
            and posts.append(json.loads(r.post_data or "{}")))

    goto(page, "project/prod")
    card = page.locator("section.promotion")
    expect(card.locator(".chain")).to_have_text(
        re.compile(r"\s*staging 2\.1\.0 ✓ soaking (59|60) min\s+→\s+prod 2\.0\.0\s*"))
    expect(card.locator(".promotion-blocked")).to_contain_text("soaking until")
    expect(card.locator(".promotion-mode")).to_have_text("Promoted by hand after a soak of 1 h.")
    shot(page, "promotion-chain")
    card.get_by_role("button", name="Force promote 2.1.0…").click()
    reason = card.get_by_label("Why promote 2.1.0 before staging's rollout is done? (recorded)")
    expect(reason).to_be_visible()
    reason.fill("hotfix for INC-42")
    card.get_by_role("button", name="Promote anyway").click()
    expect(card.locator(".chain")).to_contain_text("prod 2.1.0")
    assert posts == [{"version": "2.1.0", "force": True, "reason": "hotfix for INC-42"}]
    shown = project(live, "prod")
    assert shown["version"] == "2.1.0"
    assert shown["release"]["promoted_from"]["forced"] is True
    assert shown["release"]["promoted_from"]["reason"] == "hotfix for INC-42"
    assert not page.errors
