"""The client's form encoding is the standard one, byte for byte, and is what reaches the server."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mailgun.client.urls import form_body

pairs = st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=8)


@settings(max_examples=500, deadline=None)
@given(pairs)
def test_form_body_is_what_urlencode_gives(given_pairs: list[tuple[str, str]]) -> None:
    try:
        expected = urlencode(given_pairs).encode()
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        return
    assert form_body(given_pairs) == expected
    assert parse_qsl(form_body(given_pairs).decode(), keep_blank_values=True) == given_pairs


def test_plus_space_and_percent_keep_their_meaning() -> None:
    """Escapes hold "%" and a space becomes "+": neither may be escaped again by a later pass."""
    given = [("h:X-Note", "a+b c%20d %"), ("v:é", "☃ +%")]
    assert form_body(given) == urlencode(given).encode()
    assert parse_qsl(form_body(given).decode(), keep_blank_values=True) == given
