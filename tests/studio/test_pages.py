"""The Studio over HTTP (in process): login, every page, roles, CSRF, validation, audit."""

from __future__ import annotations

import json

import pytest

from shopfloor.services.users import Role
from tests.studio.conftest import M1, M2, M3, PASSWORD, Plant, Studio


async def test_login_refuses_a_wrong_password_and_opens_a_session_for_the_right_one(
    studio: Studio,
) -> None:
    async with studio.client() as client:
        first = await client.get("/studio/plant")
        assert first.status_code == 303
        assert first.headers["location"] == "/studio/login?next=/studio/plant"
        wrong = await studio.post_login(client, "otto", "not it at all")
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        assert "shopfloor_session" not in client.cookies
        right = await studio.post_login(client, "otto", next="/studio/alerts")
        assert right.status_code == 303 and right.headers["location"] == "/studio/alerts"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie
        inbox = await client.get("/studio/alerts")
        assert inbox.status_code == 200 and "otto" in inbox.text
    entries = [e for e in studio.audit.entries() if e["action"] == "login"]
    assert [(e["who"], e["outcome"][:6]) for e in entries] == [
        ("user otto", "failed"),
        ("user otto", "ok"),
    ]
    assert all(PASSWORD not in json.dumps(e) for e in studio.audit.entries())


async def test_login_needs_its_csrf_token_and_sends_nobody_elsewhere(studio: Studio) -> None:
    async with studio.client() as client:
        await client.get("/studio/login")
        forged = await client.post(
            "/studio/login", data={"csrf_token": "guess", "username": "ada", "password": PASSWORD}
        )
        assert forged.status_code == 403 and "CSRF" in forged.text
        answer = await studio.post_login(client, "ada", next="https://evil.example/")
        assert answer.headers["location"] == "/studio/plant"


async def test_a_disabled_user_cannot_log_in_and_loses_their_session(studio: Studio) -> None:
    async with studio.client() as client:
        await studio.login(client, "vera")
        studio.users.set_disabled("vera", True)
        assert (await client.get("/studio/plant")).status_code == 303
        assert (await studio.post_login(client, "vera")).status_code == 401


async def test_plant_shows_the_isa95_tree_with_health_and_alerts(studio: Studio) -> None:
    await studio.alert(M2, "alarm")
    async with studio.client() as client:
        await studio.login(client, "vera")
        page = await client.get("/studio/plant")
    text = page.text
    for part in ("acme", "p1", "machining", "assembly", "mill-1", "mill-2", "press-1"):
        assert part in text
    assert f'data-asset="{M2}"' in text and "1 alarm active" in text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "http://" not in text and "https://" not in text  # nothing from elsewhere


async def test_alert_actions_need_the_operator_role_and_the_csrf_token(studio: Studio) -> None:
    alert_id = await studio.alert(M1, "warning")
    async with studio.client() as client:
        csrf = await studio.login(client, "vera")
        refused = await client.post(f"/studio/alerts/{alert_id}/ack", data={"csrf_token": csrf})
        assert refused.status_code == 403 and "operator" in refused.text
    async with studio.client() as client:
        csrf = await studio.login(client, "otto")
        no_token = await client.post(f"/studio/alerts/{alert_id}/ack", data={"comment": "x"})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        by_header = await client.post(
            f"/studio/alerts/{alert_id}/ack",
            data={"comment": "on it"},
            headers={"x-csrf-token": csrf},
        )
        assert by_header.status_code == 303
        confirmed = await client.post(
            f"/studio/alerts/{alert_id}/false_alarm",
            data={"csrf_token": csrf, "comment": "sensor knocked"},
        )
        assert confirmed.status_code == 303
        page = await client.get(f"/studio/alerts/{alert_id}")
    assert "acknowledged" in page.text and "false_alarm: sensor knocked" in page.text
    actions = [(e["who"], e["action"], e["outcome"]) for e in studio.audit.entries()]
    assert ("user otto", "alert_ack", "ok") in actions
    assert ("user otto", "alert_false_alarm", "ok") in actions
    refusals = [e for e in studio.audit.entries() if e["action"] == "refused"]
    assert [(e["who"], e["status"]) for e in refusals] == [("user vera", 403), ("user otto", 403)]


async def test_inbox_filters_by_state_asset_and_severity(studio: Studio) -> None:
    await studio.alert(M1, "alarm", "a-rule")
    await studio.alert(M3, "warning", "b-rule")
    async with studio.client() as client:
        await studio.login(client, "vera")
        rows = await client.get("/studio/alerts/rows", params={"severity": "warning"})
        assert "b-rule" in rows.text and "a-rule" not in rows.text
        rows = await client.get("/studio/alerts/rows", params={"asset": M1})
        assert "a-rule" in rows.text and "b-rule" not in rows.text
        rows = await client.get("/studio/alerts/rows", params={"state": "resolved"})
        assert "No resolved alerts" in rows.text
        bad = await client.get("/studio/alerts", params={"severity": "doom"})
        assert bad.status_code == 422 and "severity must be one of" in bad.text
        bad = await client.get("/studio/alerts", params={"asset": "../../etc"})
        assert bad.status_code == 422 and "asset &#39;../../etc&#39;" in bad.text
        missing = await client.get("/studio/alerts/999999")
        assert missing.status_code == 404 and "no alert 999999" in missing.text


async def test_an_operator_cannot_deploy_and_an_engineer_can(studio: Studio, plant: Plant) -> None:
    ref = plant.refs[0]
    form = {"ref": ref, "asset": M1, "mode": "active", "reason": "try it"}
    async with studio.client() as client:
        csrf = await studio.login(client, "otto")
        page = await client.get("/studio/models")
        assert 'class="deploy-button" disabled' in page.text
        refused = await client.post("/studio/deploy", data={**form, "csrf_token": csrf})
        assert refused.status_code == 403 and "engineer" in refused.text
    async with studio.client() as client:
        csrf = await studio.login(client, "erin")
        page = await client.get("/studio/models")
        assert 'class="deploy-button" disabled' not in page.text
        done = await client.post("/studio/deploy", data={**form, "csrf_token": csrf})
        assert done.status_code == 303
        second = await client.post(
            "/studio/deploy", data={**form, "ref": plant.refs[1], "csrf_token": csrf}
        )
        assert second.status_code == 303
        back = await client.post(
            "/studio/rollback", data={"asset": M1, "name": "vib", "csrf_token": csrf}
        )
        assert back.status_code == 303, back.text
        page = await client.get("/studio/models")
        bad = await client.post(
            "/studio/deploy", data={**form, "asset": "../x", "csrf_token": csrf}
        )
        assert bad.status_code == 422 and "is not an asset of the project" in bad.text
    assert "rollback" in page.text and "erin" in page.text
    kept = [(e["who"], e["action"], e["outcome"]) for e in studio.audit.entries()]
    assert ("user erin", "deploy", "ok") in kept and ("user erin", "rollback", "ok") in kept


async def test_signals_page_and_downsampled_series(studio: Studio) -> None:
    async with studio.client() as client:
        await studio.login(client, "vera")
        page = await client.get("/studio/signals")
        assert page.status_code == 200 and f"{M1}/temp" in page.text
        series = await client.get(
            "/studio/signals/data", params={"signal": f"{M1}/temp", "range": "all", "points": 500}
        )
        body = series.json()
        assert 250 <= len(body["t"]) <= 500 and body["every_s"] > 0 and body["unit"] == "degC"
        assert all(lo <= hi for lo, hi in zip(body["min"], body["max"], strict=True))
        short = await client.get(
            "/studio/signals/data", params={"signal": f"{M1}/temp", "range": "10min"}
        )
        assert short.json()["every_s"] == 0 and len(short.json()["t"]) == 60
        bad = await client.get("/studio/signals/data", params={"signal": f"{M1}/vib"})
        assert bad.status_code == 400 and "is not a scalar signal" in bad.text
        bad = await client.get("/studio/signals/data", params={"signal": "x", "range": "1y"})
        assert bad.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/studio/static/../../api/tokens.py",
        "/studio/static/%2e%2e/%2e%2e/services/users.py",
        "/studio/static/..%2f..%2fapp.py",
        "/studio/static/vendor/../../templates/base.html",
    ],
)
async def test_static_files_never_leave_their_folder(studio: Studio, path: str) -> None:
    async with studio.client() as client:
        answer = await client.get(path)
    assert answer.status_code == 404
    assert "import" not in answer.text and "{%" not in answer.text


async def test_vendored_assets_are_served_with_their_licences(studio: Studio) -> None:
    async with studio.client() as client:
        for path in (
            "/studio/static/vendor/htmx-2.0.11.min.js",
            "/studio/static/vendor/uPlot-1.6.32.iife.min.js",
            "/studio/static/vendor/htmx-LICENSE.txt",
            "/studio/static/vendor/uPlot-LICENSE.txt",
        ):
            answer = await client.get(path)
            assert answer.status_code == 200 and len(answer.content) > 500, path


async def test_the_api_accepts_a_session_cookie_with_csrf_for_writes(studio: Studio) -> None:
    async with studio.client() as client:
        csrf = await studio.login(client, "erin")
        assert (await client.get("/api/v1/signals")).status_code == 200
        body = {"asset": M1, "signals": [{"name": "new_one", "kind": "scalar"}]}
        refused = await client.post("/api/v1/signals", json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        done = await client.post("/api/v1/signals", json=body, headers={"x-csrf-token": csrf})
        assert done.status_code == 200, done.text
        retention = await client.post("/api/v1/retention", headers={"x-csrf-token": csrf})
        assert retention.status_code == 403 and "admin" in retention.json()["detail"]


async def test_form_posts_are_refused_outside_the_studio(studio: Studio) -> None:
    async with studio.client() as client:
        answer = await client.post(
            "/api/v1/signals",
            content=b"asset=x",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "authorization": f"Bearer {next(iter(studio.secrets.values()))}",
            },
        )
    assert answer.status_code == 415


async def test_logout_ends_the_session(studio: Studio) -> None:
    async with studio.client() as client:
        csrf = await studio.login(client, "vera")
        cookie = client.cookies["shopfloor_session"]
        answer = await client.post("/studio/logout", data={"csrf_token": csrf})
        assert answer.status_code == 303
        assert studio.sessions.get(cookie) is None
        assert (await client.get("/studio/plant")).status_code == 303


async def test_a_foreign_host_is_refused_before_the_studio(studio: Studio) -> None:
    async with studio.client(host="evil.example") as client:
        answer = await client.get("/studio/login")
    assert answer.status_code == 400


async def test_root_redirects_to_the_studio(studio: Studio) -> None:
    async with studio.client() as client:
        answer = await client.get("/")
        assert answer.headers["location"] == "/studio/"
        answer = await client.get("/studio/")
        assert answer.headers["location"] == "/studio/plant"


async def test_an_unknown_page_is_a_404_page(studio: Studio) -> None:
    async with studio.client() as client:
        await studio.login(client, "vera")
        answer = await client.get("/studio/nowhere")
    assert answer.status_code == 404 and "<html" in answer.text


async def test_the_deploy_asset_must_be_known(studio: Studio) -> None:
    async with studio.client() as client:
        csrf = await studio.login(client, "ada")
        answer = await client.post(
            "/studio/deploy",
            data={"ref": "vib@1", "asset": M1 + "/../../x", "mode": "shadow", "csrf_token": csrf},
        )
    assert answer.status_code == 422


async def test_a_poll_after_the_session_ended_sends_the_page_to_the_login(studio: Studio) -> None:
    async with studio.client() as client:
        answer = await client.get(
            "/studio/alerts/rows",
            headers={
                "hx-request": "true",
                "hx-current-url": "http://127.0.0.1/studio/alerts?state=all",
            },
        )
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == "/studio/login?next=/studio/alerts%3Fstate%3Dall"


async def test_password_guessing_is_slowed_down(studio: Studio) -> None:
    async with studio.client() as client:
        tries = [await studio.post_login(client, "ada", f"guess number {i}") for i in range(5)]
        assert [t.status_code for t in tries] == [401] * 5
        assert (await studio.post_login(client, "ada")).status_code == 429
    refused = [e for e in studio.audit.entries() if e["outcome"].startswith("refused")]
    assert len(refused) == 1 and "5 failed logins for user 'ada'" in refused[0]["outcome"]


async def test_admins_manage_users_over_the_api(studio: Studio) -> None:
    admin = {"authorization": f"Bearer {studio.secrets[Role.ADMIN]}"}
    viewer = {"authorization": f"Bearer {studio.secrets[Role.VIEWER]}"}
    body = {"name": "newbie", "role": "Operator", "password": "fresh password here"}
    async with studio.client() as client:
        refused = await client.post("/api/v1/users", json=body, headers=viewer)
        assert refused.status_code == 403
        made = await client.post("/api/v1/users", json=body, headers=admin)
        assert made.status_code == 200 and made.json()["role"] == "operator", made.text
        again = await client.post("/api/v1/users", json=body, headers=admin)
        assert again.status_code == 400 and "exists already" in again.json()["detail"]
        short = await client.post(
            "/api/v1/users", json={**body, "name": "x2", "password": "short"}, headers=admin
        )
        assert short.status_code == 400 and "at least 10" in short.json()["detail"]
        bad = await client.post("/api/v1/users", json={**body, "role": "boss"}, headers=admin)
        assert bad.status_code == 400 and "role 'boss' is not a role" in bad.json()["detail"]
        listed = await client.get("/api/v1/users", headers=admin)
        assert "newbie" in [u["name"] for u in listed.json()]
        await studio.login(client, "newbie", "fresh password here")
        off = await client.post("/api/v1/users/newbie/disable", headers=admin)
        assert off.status_code == 200 and off.json()["disabled"] is True
        assert (await client.get("/studio/plant")).status_code == 303
        odd = await client.post("/api/v1/users/newbie/delete", headers=admin)
        assert odd.status_code == 422
    text = studio.audit.path.read_text()
    assert "fresh password here" not in text and '"action":"user_create"' in text


async def test_an_engineer_promotes_a_version(studio: Studio, plant: Plant) -> None:
    async with studio.client() as client:
        csrf = await studio.login(client, "otto")
        refused = await client.post(
            "/studio/promote",
            data={"ref": plant.refs[0], "stage": "production", "csrf_token": csrf},
        )
        assert refused.status_code == 403
    async with studio.client() as client:
        csrf = await studio.login(client, "erin")
        for ref in plant.refs:
            done = await client.post(
                "/studio/promote", data={"ref": ref, "stage": "production", "csrf_token": csrf}
            )
            assert done.status_code == 303, done.text
        bad = await client.post(
            "/studio/promote", data={"ref": plant.refs[0], "stage": "gold", "csrf_token": csrf}
        )
        assert bad.status_code == 400 and "stage &#39;gold&#39;" in bad.text
        page = await client.get("/studio/models")
    assert f'stage-archived" data-ref="{plant.refs[0]}"' in page.text
    assert f'stage-production" data-ref="{plant.refs[1]}"' in page.text


async def test_alerts_over_the_api(studio: Studio) -> None:
    alert_id = await studio.alert(M3, "warning", "api-rule")
    viewer = {"authorization": f"Bearer {studio.secrets[Role.VIEWER]}"}
    operator = {"authorization": f"Bearer {studio.secrets[Role.OPERATOR]}"}
    async with studio.client() as client:
        listed = await client.get("/api/v1/alerts", params={"asset": M3}, headers=viewer)
        assert [a["rule"] for a in listed.json()] == ["api-rule"]
        refused = await client.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers=viewer)
        assert refused.status_code == 403
        acked = await client.post(
            f"/api/v1/alerts/{alert_id}/ack", json={"comment": "seen"}, headers=operator
        )
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
        shelved = await client.post(
            f"/api/v1/alerts/{alert_id}/shelve", json={"for": "2h"}, headers=operator
        )
        assert shelved.json()["shelved_until"]
        feedback = await client.post(
            f"/api/v1/alerts/{alert_id}/feedback",
            json={"verdict": "false_alarm", "comment": "drift"},
            headers=operator,
        )
        assert feedback.json()["label"]["label"] == "healthy"
        wrong = await client.post(
            f"/api/v1/alerts/{alert_id}/feedback", json={"verdict": "maybe"}, headers=operator
        )
        assert wrong.status_code == 400 and "VERDICT" in wrong.json()["detail"]
        unknown = await client.post(f"/api/v1/alerts/{alert_id}/explode", json={}, headers=operator)
        assert unknown.status_code == 400
        missing = await client.get("/api/v1/alerts/424242", headers=viewer)
        assert missing.status_code == 404 and missing.json()["error"] == "AlertNotFound"
        shown = await client.get(f"/api/v1/alerts/{alert_id}", headers=viewer)
        actions = [h["action"] for h in shown.json()["history"]]
        assert actions[0] == "raised" and "acknowledged" in actions and "feedback" in actions
        bad = await client.get("/api/v1/alerts", params={"state": "sleepy"}, headers=viewer)
        assert bad.status_code == 400 and "--state must be one of" in bad.json()["detail"]
    kept = [(e["action"], e["outcome"]) for e in studio.audit.entries()]
    assert ("alert_ack", "ok") in kept and ("alert_explode", "ok") not in kept
