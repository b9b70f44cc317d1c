"""The hook: connections of both types, the MATON_API_KEY fallback, test_connection, masking."""

from __future__ import annotations

import json
import logging

import pytest
from pytest_httpserver import HTTPServer

from airflow_provider_mailgun._connection.config import config_from_connection
from airflow_provider_mailgun.exceptions import MailgunConfigError
from airflow_provider_mailgun.hooks.mailgun import MailgunDirectHook, MailgunHook

MATON_KEY = "maton-hook-test-key-0123456789abcdef"
MAILGUN_KEY = "key-hook-test-0123456789abcdef0123"
OTHER_KEY = "bad-conn-test-key-0123456789"


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def test_maton_connection_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "maton_default", conn_type="maton", password=MATON_KEY)
    config = MailgunHook().config
    assert config.api_base == "https://gateway.maton.ai/mailgun"
    assert config.ctrl_base == "https://ctrl.maton.ai"
    assert config.max_requests_per_second == 10
    assert config.auth_headers() == {"Authorization": f"Bearer {MATON_KEY}"}


def test_maton_connection_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "mg",
        conn_type="maton",
        host="https://api.maton.ai",
        password=MATON_KEY,
        extra={
            "maton_connection": "c-1",
            "ctrl_url": "https://ctrl.example",
            "default_domain": "mg.x.org",
            "timeout": 30,
            "max_requests_per_second": 5,
        },
    )
    hook = MailgunHook(mailgun_conn_id="mg")
    config = hook.config
    assert config.api_base == "https://api.maton.ai/mailgun"
    assert config.auth_headers()["Maton-Connection"] == "c-1"
    assert config.ctrl_base == "https://ctrl.example"
    assert config.timeout == (10.0, 30.0)
    assert config.max_requests_per_second == 5
    assert hook.domain() == "mg.x.org"
    assert hook.domain("other.org") == "other.org"


def test_rate_limit_sharing_extras(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from airflow_provider_mailgun._common.compat import redact

    redis_url = "redis://:redis-pass-4f1c@redis.internal:6379/2"
    extra = {"rate_limit_scope": "Process", "rate_limit_redis_url": redis_url}
    _set_conn(monkeypatch, "mg", conn_type="mailgun", password=MAILGUN_KEY, extra=extra)
    config = MailgunHook(mailgun_conn_id="mg").config
    assert config.rate_limit_scope == "process"
    assert config.rate_limit_redis_url == redis_url
    assert "redis-pass" not in repr(config)
    # The Redis password is registered with the secrets masker, like the API key.
    assert "redis-pass-4f1c" not in str(redact(f"connecting to {redis_url}"))
    assert "unknown extra" not in caplog.text
    _set_conn(monkeypatch, "plain", conn_type="maton", password=MATON_KEY)
    assert MailgunHook(mailgun_conn_id="plain").config.rate_limit_scope == "host"
    _set_conn(monkeypatch, "bad", conn_type="maton", password=MATON_KEY, extra={"rate_limit_scope": "all"})
    with pytest.raises(MailgunConfigError, match="rate_limit_scope must be one of host, process"):
        MailgunHook(mailgun_conn_id="bad").config  # noqa: B018


@pytest.mark.parametrize(
    ("region", "base"), [("us", "https://api.mailgun.net"), ("eu", "https://api.eu.mailgun.net")]
)
def test_mailgun_connection_regions(monkeypatch: pytest.MonkeyPatch, region: str, base: str) -> None:
    _set_conn(
        monkeypatch, "mailgun_default", conn_type="mailgun", password=MAILGUN_KEY, extra={"region": region}
    )
    config = MailgunDirectHook().config
    assert config.api_base == base
    assert config.max_requests_per_second is None
    assert config.auth_headers()["Authorization"].startswith("Basic ")


def test_host_overrides_region(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "mg",
        conn_type="mailgun",
        host="http://127.0.0.1:9",
        password=MAILGUN_KEY,
        extra={"region": "eu"},
    )
    assert MailgunHook(mailgun_conn_id="mg").config.api_base == "http://127.0.0.1:9"


def test_maton_api_key_environment_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MATON_DEFAULT", raising=False)
    monkeypatch.setenv("MATON_API_KEY", MATON_KEY)
    config = MailgunHook().config
    assert config.via_maton
    assert config.api_base == "https://gateway.maton.ai/mailgun"
    assert config.ctrl_base == "https://ctrl.maton.ai"
    assert config.max_requests_per_second == 10
    assert config.auth_headers() == {"Authorization": f"Bearer {MATON_KEY}"}
    from airflow_provider_mailgun._common.compat import redact

    assert MATON_KEY not in str(redact(f"key {MATON_KEY}"))


def test_a_defined_maton_default_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATON_API_KEY", OTHER_KEY)
    _set_conn(monkeypatch, "maton_default", conn_type="maton", password=MATON_KEY, host="http://127.0.0.1:9")
    config = MailgunHook().config
    assert config.api_key == MATON_KEY
    assert config.api_base == "http://127.0.0.1:9/mailgun"


def test_missing_connection_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATON_API_KEY", raising=False)
    with pytest.raises(MailgunConfigError, match="'nope' is not defined"):
        MailgunHook(mailgun_conn_id="nope").config  # noqa: B018
    monkeypatch.delenv("AIRFLOW_CONN_MATON_DEFAULT", raising=False)
    with pytest.raises(MailgunConfigError, match=r"'maton_default' is not defined.*MATON_API_KEY"):
        MailgunHook().config  # noqa: B018


def test_environment_key_only_stands_in_for_maton_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATON_API_KEY", MATON_KEY)
    with pytest.raises(MailgunConfigError, match="'nope' is not defined"):
        MailgunHook(mailgun_conn_id="nope").config  # noqa: B018


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conn_type": "http", "password": OTHER_KEY}, "use 'maton'"),
        ({"conn_type": "maton"}, "no password"),
        ({"conn_type": "mailgun", "password": OTHER_KEY, "extra": {"region": "asia"}}, "region must be"),
        ({"conn_type": "maton", "password": OTHER_KEY, "extra": {"timeout": "soon"}}, "timeout must be"),
        ({"conn_type": "maton", "password": OTHER_KEY, "extra": {"max_requests_per_second": -1}}, "positive"),
        ({"conn_type": "maton", "password": OTHER_KEY, "extra": {"default_domain": 5}}, "must be a string"),
        ({"conn_type": "maton", "password": OTHER_KEY, "extra": {"verify_tls": "maybe"}}, "verify_tls"),
    ],
)
def test_bad_connections_fail_clearly(monkeypatch: pytest.MonkeyPatch, fields: dict, message: str) -> None:
    _set_conn(monkeypatch, "bad", **fields)
    with pytest.raises(MailgunConfigError, match=message):
        MailgunHook(mailgun_conn_id="bad").config  # noqa: B018


def test_malformed_extra_json_is_an_error() -> None:
    with pytest.raises(MailgunConfigError, match="not valid JSON"):
        config_from_connection("maton", host=None, password=OTHER_KEY, extra="{oops", conn_id="c")


def test_disabling_tls_verification_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    config = config_from_connection(
        "maton", host="https://gw.private", password=OTHER_KEY, extra={"verify_tls": False}, conn_id="c"
    )
    assert config.verify_tls is False
    assert "verification is OFF" in caplog.text
    assert config_from_connection("maton", host=None, password=OTHER_KEY, extra={}).verify_tls is True


def test_test_connection_reports_success_and_failure(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/v3/domains").respond_with_json(
        {"total_count": 1, "items": [{"name": "mg.example.com", "state": "active"}]}
    )
    _set_conn(monkeypatch, "ok", conn_type="mailgun", host=httpserver.url_for("/"), password=MAILGUN_KEY)
    ok, message = MailgunHook(mailgun_conn_id="ok").test_connection()
    assert ok, message
    assert "mg.example.com" in message

    httpserver.clear()
    httpserver.expect_request("/mailgun/v3/domains").respond_with_data("Forbidden", status=401)
    _set_conn(monkeypatch, "bad", conn_type="maton", host=httpserver.url_for("/"), password=MATON_KEY)
    ok, message = MailgunHook(mailgun_conn_id="bad").test_connection()
    assert not ok
    assert "401" in message
    assert "Maton API key" in message
    assert MATON_KEY not in message


def test_hook_exposes_every_api_group(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "maton_default", conn_type="maton", password=MATON_KEY)
    hook = MailgunHook()
    for group in (
        "messages",
        "events",
        "lists",
        "members",
        "bounces",
        "unsubscribes",
        "complaints",
        "whitelists",
        "domains",
        "routes",
        "webhooks",
        "templates",
        "stats",
        "tags",
        "ips",
        "tracking",
        "credentials",
        "connections",
    ):
        assert getattr(hook, group) is getattr(hook.client, group)
    assert hook.suppressions("complaints") is hook.client.complaints
    assert MATON_KEY not in repr(hook) + repr(hook.client) + repr(hook.config)
    hook.close()


def test_api_key_is_registered_with_the_secrets_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_mailgun._common.compat import redact

    _set_conn(monkeypatch, "masked", conn_type="maton", password=MATON_KEY)
    MailgunHook(mailgun_conn_id="masked").config  # noqa: B018
    assert MATON_KEY not in str(redact(f"the key is {MATON_KEY}"))
