"""The one text rule every API applies: what one-line and multi-line fields accept."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, StringConstraints, ValidationError

from tenantry.platform.text import BIDI_CONTROLS, MultiLineText, OneLineText, text_problem


class Fields(BaseModel):
    title: OneLineText = ""
    body: MultiLineText = ""
    bounded: Annotated[OneLineText, StringConstraints(max_length=40)] = ""


REFUSED_EVERYWHERE = [
    "nul\x00byte",
    "\x1b[31mred",
    "bell\x07",
    "del\x7f",
    "c1 csi \x9b31m",
    "lone cr\rover",
    "back\x08space",
    "ends with cr\r",
    *(f"bidi{char}x" for char in sorted(BIDI_CONTROLS)),
]
ONE_LINE_ONLY_REFUSED = ["two\nlines", "crlf\r\nline", "tab\there", "sep\u2028x", "para\u2029x"]
ACCEPTED = [
    "",
    "plain",
    "Grüße, 東京, emoji 😀, family 👨\u200d👩\u200d👧",
    "arabic العربية and hebrew עברית",
    "non-breaking\u00a0space",
]


@pytest.mark.parametrize("value", REFUSED_EVERYWHERE)
def test_control_and_bidi_characters_are_refused_in_every_field(value: str) -> None:
    for field in ("title", "body", "bounded"):
        with pytest.raises(ValidationError) as refused:
            Fields(**{field: value})
        message = refused.value.errors()[0]["msg"]
        assert message.startswith("must not contain"), message
        assert "U+" in message


@pytest.mark.parametrize("value", ONE_LINE_ONLY_REFUSED)
def test_line_breaks_and_tabs_only_in_multi_line_fields(value: str) -> None:
    with pytest.raises(ValidationError):
        Fields(title=value)
    assert Fields(body=value).body == value


@pytest.mark.parametrize("value", ACCEPTED)
def test_ordinary_text_of_any_script_is_accepted(value: str) -> None:
    assert Fields(title=value, body=value).title == value


def test_the_refusal_names_the_character_and_where_it_is() -> None:
    assert text_problem("ab\u202ec", multi_line=True) == (
        "must not contain a bidirectional control character (U+202E at position 2)"
    )
    assert text_problem("x\ny", multi_line=False) == (
        "must not contain a line break (U+000A at position 1)"
    )
    assert text_problem("x\ud800", multi_line=True) == (
        "must not contain a control character (U+D800 at position 1)"
    )
    assert text_problem("x\r\ny\tz", multi_line=True) is None
