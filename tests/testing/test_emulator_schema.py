"""The emulator's JSON answers validate against Mailgun's own OpenAPI response schemas.

The spec is vendored in ``tests/openapi/`` (source and licence in its ``NOTICE.md``), so these
tests run in any checkout. RFC822Time schemas are typed ``object`` in the spec but are RFC 2822
strings on the wire, so they are patched to strings before validating; the tags API's
``CustomTime`` (typed ``object``, a Go time type) is a time string on the wire, patched alike.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi" / "mailgun-openapi.yaml"
RFC822 = "#/components/schemas/github.com-mailgun-mime-RFC822Time"


def _patch_rfc822(node: Any) -> None:
    """Turn ``{type: object, allOf: [$ref RFC822Time]}`` into a plain string schema."""
    if isinstance(node, dict):
        refs = [s.get("$ref") for s in node.get("allOf", []) if isinstance(s, dict)]
        if RFC822 in refs:
            node.clear()
            node["type"] = "string"
            return
        for value in node.values():
            _patch_rfc822(value)
    elif isinstance(node, list):
        for value in node:
            _patch_rfc822(value)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open() as handle:
        data = yaml.load(handle, Loader=loader)
    data["components"]["schemas"]["github.com-mailgun-mime-RFC822Time"] = {"type": "string"}
    data["components"]["schemas"]["github.com-mailgun-tags-api-pkg-api-model-CustomTime"] = {"type": "string"}
    _patch_rfc822(data["components"])
    return data


def _validate(spec: dict[str, Any], path: str, method: str, body: Any, status: str = "200") -> None:
    response = spec["paths"][path][method]["responses"][status]
    schema = copy.deepcopy(response["content"]["application/json"]["schema"])
    _patch_rfc822(schema)
    # Put the response schema at the root next to the components so "#/components/..." resolves.
    root = {**schema, "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_send_response(spec, send):
    reply = send(to="bob@example.com")
    _validate(spec, "/v3/{domain_name}/messages", "post", reply.json())
    bad = send(to="nope")
    _validate(spec, "/v3/{domain_name}/messages", "post", bad.json(), "400")


def test_events_page(spec, send, api, emu):
    emu.seed_suppressions(emu.domain, "bounces", ["gone@example.com"])
    rv = json.dumps({"a@example.com": {"n": "1"}})
    files = [("attachment", ("a.txt", b"abc", "text/plain"))]
    send(
        to=["a@example.com", "gone@example.com", "tempfail@example.com", "complain@example.com"],
        files=files,
        **{"recipient-variables": rv, "o:tag": "t", "v:x": "%recipient.n%"},
    )
    send(to="bounce@example.com", **{"o:testmode": "yes"})
    page = api.get(f"/v3/{emu.domain}/events", params={"limit": 300}).json()
    assert {e["event"] for e in page["items"]} == {"accepted", "delivered", "failed", "complained"}
    _validate(spec, "/v3/{domain_name}/events", "get", page)


def test_list_members_and_lists_pages(spec, api, emu):
    emu.seed_list("news@mg.example.com", ["a@example.com", {"address": "b@example.com", "vars": {"k": 1}}])
    members = api.get("/v3/lists/news@mg.example.com/members/pages").json()
    assert len(members["items"]) == 2
    _validate(spec, "/v3/lists/{list_address}/members/pages", "get", members)
    lists = api.get("/v3/lists/pages").json()
    _validate(spec, "/v3/lists/pages", "get", lists)


@pytest.mark.parametrize("kind", ["bounces", "unsubscribes", "complaints", "whitelists"])
def test_suppression_pages(spec, api, emu, kind):
    records = ["a@example.com", "b@example.com"] if kind != "whitelists" else ["a@example.com", "example.org"]
    emu.seed_suppressions(emu.domain, kind, records)
    page = api.get(f"/v3/{emu.domain}/{kind}").json()
    assert len(page["items"]) == 2
    _validate(spec, f"/v3/{{domain_name}}/{kind}", "get", page)
    one = api.get(f"/v3/{emu.domain}/{kind}/a@example.com").json()
    _validate(
        spec, f"/v3/{{domain_name}}/{kind}/{{{'value' if kind == 'whitelists' else 'address'}}}", "get", one
    )


def test_domains_lists(spec, api, emu):
    api.post("/v3/domains", data={"name": "second.example.com"})
    # GET /v3/domains is not in the current spec; it answers the same shape as /v4/domains.
    for version in ("v3", "v4"):
        body = api.get(f"/{version}/domains").json()
        assert body["total_count"] == 2
        _validate(spec, "/v4/domains", "get", body)
    _validate(spec, "/v4/domains/{name}", "get", api.get(f"/v4/domains/{emu.domain}").json())


def test_other_shapes(spec, api, emu, send):
    send(to="bob@example.com", **{"o:tag": "t"})
    checks = [
        ("/v3/domains/{name}/tracking", "get", api.get(f"/v3/domains/{emu.domain}/tracking")),
        ("/v3/{domain}/tags", "get", api.get(f"/v3/{emu.domain}/tags")),
        ("/v3/routes", "get", api.get("/v3/routes")),
        ("/v3/domains/{domain_name}/credentials", "get", api.get(f"/v3/domains/{emu.domain}/credentials")),
        (
            "/v3/{domain}/stats/total",
            "get",
            api.get(f"/v3/{emu.domain}/stats/total", params=[("event", "accepted"), ("event", "failed")]),
        ),
    ]
    api.post(f"/v3/{emu.domain}/templates", data={"name": "t", "template": "x"})
    checks.append(("/v3/{domain_name}/templates", "get", api.get(f"/v3/{emu.domain}/templates")))
    checks.append(
        ("/v3/{domain_name}/templates/{template_name}", "get", api.get(f"/v3/{emu.domain}/templates/t"))
    )
    for path, method, reply in checks:
        assert reply.status_code == 200, (path, reply.text)
        _validate(spec, path, method, reply.json())


def test_analytics_responses(spec, api, emu, send):
    send(
        to=["a@example.com", "bounce@example.com"], **{"o:tag": "t", "recipient-variables": "{}", "v:k": "v"}
    )
    send(to="c@example.com", **{"o:deliverytime": "Thu, 01 Jan 2099 00:00:00 +0000", "o:tag": "t"})
    emu.engage("opened", tag="t")
    emu.engage("clicked", tag="t")
    logs = api.post("/v1/analytics/logs", json={"include_totals": True, "pagination": {"limit": 5}}).json()
    assert len(logs["items"]) == 5
    assert logs["pagination"]["total"] == 10
    _validate(spec, "/v1/analytics/logs", "post", logs)
    rest = api.post(
        "/v1/analytics/logs",
        json={"include_totals": True, "pagination": {"limit": 5, "token": logs["pagination"]["next"]}},
    )
    _validate(spec, "/v1/analytics/logs", "post", rest.json())
    every = {
        "metrics": ["accepted_count", "delivered_count", "opened_rate", "bounce_rate"],
        "include_aggregates": True,
    }
    for dims in ([], ["time"], ["time", "tag", "domain", "recipient_domain", "country"]):
        metrics = api.post("/v1/analytics/metrics", json={**every, "dimensions": dims, "resolution": "hour"})
        _validate(spec, "/v1/analytics/metrics", "post", metrics.json())
    api.get("/v4/address/validate", params={"address": "x@example.com"})
    usage = api.post(
        "/v1/analytics/usage/metrics", json={"metrics": ["email_validation_count"], "dimensions": ["time"]}
    )
    assert usage.json()["items"][0]["metrics"] == {"email_validation_count": 1}
    _validate(spec, "/v1/analytics/usage/metrics", "post", usage.json())
    tags = api.post(
        "/v1/analytics/tags", json={"include_metrics": True, "pagination": {"include_total": True}}
    )
    _validate(spec, "/v1/analytics/tags", "post", tags.json())
    _validate(
        spec,
        "/v1/analytics/tags",
        "put",
        api.put("/v1/analytics/tags", json={"tag": "t", "description": "d"}).json(),
    )
    _validate(spec, "/v1/analytics/tags/limits", "get", api.get("/v1/analytics/tags/limits").json())
    _validate(
        spec, "/v1/analytics/tags", "delete", api.delete("/v1/analytics/tags", json={"tag": "t"}).json()
    )
    for address in ("ada@example.org", "admin@gmial.com", "not an address", "x@mailinator.com"):
        _validate(
            spec,
            "/v4/address/validate",
            "get",
            api.get("/v4/address/validate", params={"address": address}).json(),
        )
    bad = api.post("/v1/analytics/logs", json={"events": ["nope"]})
    assert bad.status_code == 400
    _validate(spec, "/v1/analytics/logs", "post", bad.json(), "400")
