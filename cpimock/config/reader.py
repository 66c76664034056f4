"""Typed access to TOML values that fails with the key path and the fix."""

from __future__ import annotations

from typing import Any

from cpimock.config.model import SubjectPair
from cpimock.errors import ConfigError
from cpimock.pki.dn import DnKey, parse_dn


class Reader:
    """Typed access to TOML values that fails with the key path and the fix."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def table(self, data: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(prefix + key, f"must be a table ([{prefix}{key}]), not {type(value).__name__}")
        return value

    def only(self, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(prefix + key, f"unknown key; expected one of: {known}")

    def text(self, data: dict[str, Any], key: str, prefix: str, default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(prefix + key, "must be a non-empty string")
        return value

    def flag(self, data: dict[str, Any], key: str, prefix: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(prefix + key, "must be true or false")
        return value

    def number(self, data: dict[str, Any], key: str, prefix: str, default: float, low: float, high: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(prefix + key, f"must be a number from {low:g} to {high:g}")
        return float(value)

    def whole(self, data: dict[str, Any], key: str, prefix: str, default: int, low: int, high: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(prefix + key, f"must be a whole number from {low} to {high}")
        return value

    def strings(self, data: dict[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            # CPI writes allowed headers pipe-separated; accept that form too
            value = [part.strip() for part in value.split("|") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(prefix + key, 'must be a list of strings, e.g. ["a", "b"]')
        return tuple(value)

    def choice(self, data: dict[str, Any], key: str, prefix: str, default: str, choices: tuple[str, ...]) -> str:
        value = data.get(key, default)
        if value not in choices:
            raise self.fail(prefix + key, f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
        return str(value)

    def pairs(self, data: dict[str, Any], key: str, prefix: str) -> tuple[SubjectPair, ...]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(prefix + key, 'must be a list of {subject = "...", issuer = "..."} tables')
        pairs = []
        for i, item in enumerate(value):
            where = f"{prefix}{key}[{i}]"
            if not isinstance(item, dict) or set(item) != {"subject", "issuer"}:
                raise self.fail(where, 'must be a table with exactly "subject" and "issuer"')
            pairs.append(SubjectPair(self.dn(item, "subject", where), self.dn(item, "issuer", where)))
        return tuple(pairs)

    def dn(self, item: dict[str, Any], key: str, where: str) -> DnKey:
        value = item[key]
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", 'must be a DN string like "CN=sender, O=ACME, C=DE"')
        try:
            return parse_dn(value)
        except ValueError as exc:
            raise self.fail(f"{where}.{key}", f'{exc}; write DNs like "CN=sender, O=ACME, C=DE"') from None
