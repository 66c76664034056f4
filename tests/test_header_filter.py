"""An iFlow's Allowed Header(s), prepared once: the verdict per name is the rule's, remembered or not."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cpimock.adapters.request import HeaderFilter

_NAMES = st.one_of(
    st.sampled_from(["Content-Type", "CONTENT-TYPE", "Authorization", "Cookie", "X-CSRF-Token", "CamelHttpUri"]),
    st.sampled_from(["X-Order-Id", "x-order-id", "X-Trace", "SAP_Sender", "Proxy-Authorization", "camelx"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12),
)
_PATTERNS = st.sampled_from(
    [(), ("*",), ("X-Order-Id",), ("x-.*",), ("X-Trace", "SAP_.*"), ("[",), ("Cookie", "Camel.*")]
)


def _rule(patterns: tuple[str, ...], name: str) -> bool:
    lower = name.lower()
    if lower in {"authorization", "cookie", "proxy-authorization", "x-csrf-token"} or lower.startswith("camel"):
        return False
    if lower == "content-type" or "*" in patterns or lower in {p.lower() for p in patterns}:
        return True
    for pattern in patterns:
        try:
            if re.fullmatch(pattern, name, re.IGNORECASE):
                return True
        except re.error:
            pass
    return False


@given(patterns=_PATTERNS, names=st.lists(_NAMES, max_size=10))
def test_a_remembered_verdict_is_the_rule_s(patterns: tuple[str, ...], names: list[str]) -> None:
    prepared = HeaderFilter(patterns)
    for name in names + names:  # the second time from memory
        assert prepared.inbound(name) is _rule(patterns, name), name


def test_what_never_reaches_a_step_stays_out_whatever_the_patterns_allow() -> None:
    prepared = HeaderFilter(("*",))
    assert prepared.inbound("X-Anything")
    for name in ("Authorization", "cookie", "X-CSRF-Token", "CamelHttpMethod"):
        assert not prepared.inbound(name)
    assert prepared("Authorization")  # the patterns allow it; the adapter never passes it on
