"""``[[iflows]]`` tables with ``export = "..."``: what CPI's *Configure* dialog sets, checked for its shape."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock.config import ExportConfig, FlowSettings, parse_config
from cpimock.errors import ConfigError

PACKAGE = """
[[iflows]]
id = "hand"
address = "/hand"

[[iflows]]
export = "iflows/OrderToCash.zip"
flows = ["Orders_Inbound", "Invoices_Inbound"]
strict = true
timeout_s = 5
[iflows.parameters]
"Sender Role" = "Custom.send"
"Body Size" = 12
CSRF = true
[iflows.replace]
"script1.groovy" = "iflows/script1.py:process"
[iflows.flow.Invoices_Inbound]
state = "stopped"
strict = false
[iflows.flow.Invoices_Inbound.parameters]
"HTTP Address" = "/invoices"
[iflows.flow.Invoices_Inbound.replace]
"script1.groovy:mapInvoice" = "iflows/invoices.py:map_invoice"
"""


def config(text: str, root: Path) -> tuple[ExportConfig, ...]:
    return parse_config(tomllib.loads(text), root).exports


def test_an_export_table_keeps_its_file_flows_parameters_and_replacements(tmp_path: Path) -> None:
    parsed = parse_config(tomllib.loads(PACKAGE), tmp_path)
    assert [flow.id for flow in parsed.iflows] == ["hand"]
    [export] = parsed.exports
    assert (export.index, export.where, export.export) == (1, "iflows[1]", "iflows/OrderToCash.zip")
    assert export.path == (tmp_path / "iflows" / "OrderToCash.zip").resolve()
    assert export.flows == ("Orders_Inbound", "Invoices_Inbound")
    assert (export.strict, export.timeout_s, export.state) == (True, 5.0, "started")
    assert export.overrides("Orders_Inbound") == {"Sender Role": "Custom.send", "Body Size": "12", "CSRF": "true"}
    assert export.overrides("Invoices_Inbound")["HTTP Address"] == "/invoices"
    assert export.replacements("Invoices_Inbound") == {
        "script1.groovy": "iflows/script1.py:process",
        "script1.groovy:mapInvoice": "iflows/invoices.py:map_invoice",
    }
    assert export.flow("Invoices_Inbound") == FlowSettings(
        (("HTTP Address", "/invoices"),),
        (("script1.groovy:mapInvoice", "iflows/invoices.py:map_invoice"),),
        "stopped",
        False,
    )
    assert (export.is_strict("Orders_Inbound"), export.is_strict("Invoices_Inbound")) == (True, False)
    assert (export.state_of("Orders_Inbound"), export.state_of("Invoices_Inbound")) == ("started", "stopped")


def test_a_flow_zip_needs_nothing_but_the_file(tmp_path: Path) -> None:
    [export] = config('[[iflows]]\nexport = "iflows/Flow.zip"\n', tmp_path)
    assert (export.flows, export.parameters, export.replace, export.strict) == ((), (), (), False)
    assert export.auth_methods == frozenset({"certificate", "basic", "oauth"})


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ('address = "/orders"', r"iflows\[0\]\.address: comes from the export \(the sender channel's address"),
        ('id = "Orders"', r"iflows\[0\]\.id: comes from the export \(the export's Bundle-SymbolicName\)"),
        ('steps = ["a.py:f"]', r"iflows\[0\]\.steps: comes from the export .*\[iflows\.replace\]"),
        ("colour = 1", r"iflows\[0\]\.colour: unknown key for an export; expected one of: auth_methods, export"),
        ('flows = ["A", "A"]', r"iflows\[0\]\.flows: names a flow twice"),
        ('flows = ["A"]\n[iflows.flow.B.parameters]\nx = "1"', r"iflows\[0\]\.flow\.B: names a flow that flows"),
        ("[iflows.parameters]\nx = [1]", r'iflows\[0\]\.parameters\."x": must be a string, a number or true/false'),
        ('[iflows.replace]\n"a.py" = "b.py:f"', r'iflows\[0\]\.replace\."a\.py": name a script of the export'),
        ('[iflows.replace]\n"s.groovy" = 1', r'iflows\[0\]\.replace\."s\.groovy": must be a step reference'),
        ('[iflows.flow.B]\ncolour = "red"', r"iflows\[0\]\.flow\.B\.colour: unknown key"),
        ('auth_methods = ["kerberos"]', r"iflows\[0\]\.auth_methods: 'kerberos' is not one of"),
    ],
)
def test_a_mistake_in_an_export_table_names_its_key_and_the_fix(tmp_path: Path, table: str, match: str) -> None:
    head, _, rest = table.partition("[")
    text = f'[[iflows]]\nexport = "iflows/Flow.zip"\n{head}' + (f"[{rest}" if rest else "")
    with pytest.raises(ConfigError, match=match):
        config(text, tmp_path)


def test_a_hand_written_table_without_address_mentions_export_as_the_other_way(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'needs id = "\.\.\." and address = "/\.\.\." \(or export = '):
        config('[[iflows]]\nid = "x"\n', tmp_path)


_TOML_VALUES = st.recursive(
    st.none().map(lambda _: "") | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted({"export", "flows", "strict", "parameters", "replace", "flow", "state", "x"})),
        _TOML_VALUES,
        max_size=6,
    )
)
def test_any_export_table_is_read_or_refused_with_one_config_error(table: dict[str, object]) -> None:
    document = {"iflows": [{"export": "iflows/Flow.zip", **table}]}
    problem = None
    try:
        parse_config(document, Path("/tmp/ws"))
    except ConfigError as exc:
        problem = str(exc)
    assert problem is None or problem.startswith("cpimock.toml: iflows[0]")
