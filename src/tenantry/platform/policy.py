"""The service-to-service allowlist: who may call which route of whom, and nothing else.

The policy is one file of lines `caller -> callee: METHOD /path/{param}`. Anything not listed is
denied. Every service checks every incoming call against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_LINE = re.compile(
    r"^(?P<caller>[a-z][a-z0-9-]*)\s*->\s*(?P<callee>[a-z][a-z0-9-]*)\s*:\s*"
    r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD)\s+(?P<pattern>/\S*)$"
)
_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


class PolicyError(ValueError):
    """The policy file cannot be parsed; the message names the line."""


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a route pattern where `{name}` stands for exactly one non-empty path segment."""
    parts = _PARAM.split(pattern)
    regex = "".join("[^/]+" if index % 2 else re.escape(part) for index, part in enumerate(parts))
    return re.compile(f"^{regex}$")


def normalise_pattern(pattern: str) -> str:
    """Rename every `{param}` to `{}` so two spellings of one route compare equal."""
    return _PARAM.sub("{}", pattern)


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One allowed call: `caller -> callee: METHOD pattern`, as written on `line`."""

    caller: str
    callee: str
    method: str
    pattern: str
    line: int
    regex: re.Pattern[str]

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee}: {self.method} {self.pattern}"


class Policy:
    """A parsed allowlist, indexed by caller and callee for a quick check on every request."""

    def __init__(self, entries: Iterable[PolicyEntry]) -> None:
        self.entries = tuple(entries)
        self._by_pair: dict[tuple[str, str], list[PolicyEntry]] = {}
        for entry in self.entries:
            self._by_pair.setdefault((entry.caller, entry.callee), []).append(entry)

    def allows(self, caller: str, callee: str, method: str, path: str) -> bool:
        """True only if an entry names this caller, callee, method and matches the path."""
        for entry in self._by_pair.get((caller, callee), ()):
            if entry.method == method and entry.regex.match(path):
                return True
        return False

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Parse policy text; comments start with `#`; a bad line raises PolicyError."""
        entries = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = _LINE.match(line)
            if match is None:
                raise PolicyError(f"policy line {number} is not `caller -> callee: METHOD /path`")
            pattern = match["pattern"]
            entries.append(
                PolicyEntry(
                    caller=match["caller"],
                    callee=match["callee"],
                    method=match["method"],
                    pattern=pattern,
                    line=number,
                    regex=pattern_regex(pattern),
                )
            )
        return cls(entries)


def load_policy(path: Path | None = None) -> Policy:
    """Load the allowlist from `path`, or the one that ships with tenantry."""
    if path is None:
        return Policy.parse(resources.files("tenantry").joinpath("policy.allow").read_text())
    return Policy.parse(path.read_text())
