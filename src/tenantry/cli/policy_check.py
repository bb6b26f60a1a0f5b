"""Compare the allowlist with the code, so the policy can never drift from what really happens.

Three kinds of drift fail the check:
- a call the code makes that no entry allows;
- an entry naming a route its callee does not expose;
- an entry no code uses (a permission nobody needs is one an attacker could use).
So does a route that breaks the internal prefix convention: a service's internal routes live
under `/internal/<service>/`, and no public route is under `/internal/`.

Calls are found by reading the source: `client.call("callee", "METHOD", "/route/{param}")` with
literal arguments, plus the calls a service makes from a table (the edge's public routes, its
spec's `forwards`). A call written in a platform module is made by every service that imports
that module. Exposed routes come from the routers in each service's spec.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tenantry
from tenantry.cli.plan import OPERATOR
from tenantry.platform.policy import Policy, load_policy, normalise_pattern
from tenantry.platform.service_spec import INTERNAL, declared_routes, internal_prefix
from tenantry.services.registry import SPECS, public_routes

Call = tuple[str, str, str, str]  # caller, callee, method, route


OPENAPI_ROUTE = "/openapi.json"
UNPREFIXED_ROUTES = frozenset({OPENAPI_ROUTE})
KEY_REPOSITORY_PREFIX = "/asap/"
"""identity's public key repository, at the path ASAP clients expect; it needs no token."""


def callers_by_package() -> dict[str, str]:
    """Which caller the calls written in each source directory are made as."""
    callers = {f"services/{spec.name}": spec.name for spec in SPECS}
    callers["cli"] = OPERATOR
    return callers


def exposed_routes() -> set[tuple[str, str, str]]:
    """(service, METHOD, normalised pattern) for every route each service serves.

    The routes come from each spec's routers, which are exactly those its app serves (an app
    serving others does not start).
    """
    routes = {
        (spec.name, method, pattern) for spec in SPECS for method, pattern in declared_routes(spec)
    }
    # Every app built from routers serves its own OpenAPI document (FastAPI makes it).
    routes |= {(spec.name, "GET", OPENAPI_ROUTE) for spec in SPECS if spec.routers()}
    return routes


def _literal_calls(tree: ast.AST, caller: str) -> Iterator[Call]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "call" or len(node.args) < 3:
            continue
        values = [
            arg.value
            for arg in node.args[:3]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        ]
        if len(values) == 3:
            yield caller, values[0], values[1], values[2]


def _imported_modules(tree: ast.AST) -> set[str]:
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def calls_in_code() -> set[Call]:
    """Every inter-service call the source makes, plus the edge's forwarded public routes."""
    root = Path(tenantry.__file__).parent
    platform_calls = {
        "tenantry." + ".".join(source.relative_to(root).with_suffix("").parts): list(
            _literal_calls(ast.parse(source.read_text()), "")
        )
        for source in (root / "platform").rglob("*.py")
    }
    calls: set[Call] = set()
    for package, caller in callers_by_package().items():
        for source in (root / package).rglob("*.py"):
            tree = ast.parse(source.read_text())
            calls.update(_literal_calls(tree, caller))
            for module in _imported_modules(tree):
                for _, callee, method, pattern in platform_calls.get(module, ()):
                    calls.add((caller, callee, method, pattern))
    for spec in SPECS:
        for callee, method, pattern in spec.forwards(public_routes()):
            calls.add((spec.name, callee, method, pattern))
    return calls


def prefix_problems(
    exposed: set[tuple[str, str, str]], forwarded: set[tuple[str, str, str]]
) -> list[str]:
    """Routes that break the internal prefix convention, as sentences: a route no edge
    forwards lives under `/internal/<service>/`, and no public route does.

    `exposed` is (service, METHOD, pattern) of served routes, `forwarded` (callee, METHOD,
    pattern) of the routes an edge forwards from its public table.
    """
    problems = []
    public = {(callee, method, normalise_pattern(pattern)) for callee, method, pattern in forwarded}
    for service, method, pattern in sorted(exposed):
        if (service, method, pattern) in public or pattern in UNPREFIXED_ROUTES:
            continue
        if pattern.startswith(KEY_REPOSITORY_PREFIX):
            continue
        if not pattern.startswith(internal_prefix(service)):
            problems.append(
                f"{service} serves {method} {pattern}, which no edge forwards: its internal "
                f"routes belong under {internal_prefix(service)}"
            )
    for callee, method, pattern in sorted(forwarded):
        if pattern.startswith(INTERNAL):
            problems.append(f"the public route {method} {pattern} of {callee} is internal")
    return problems


def check_policy(policy_file: Path | None = None) -> list[str]:
    """Every drift between the policy and the code, as sentences; empty when they agree."""
    policy: Policy = load_policy(policy_file)
    problems = []
    exposed = exposed_routes()
    allowed = {
        (entry.caller, entry.callee, entry.method, normalise_pattern(entry.pattern))
        for entry in policy.entries
    }
    forwarded = {(route.service, route.method, route.pattern) for route in public_routes()}
    problems.extend(prefix_problems(exposed, forwarded))
    used = set()
    for caller, callee, method, route in sorted(calls_in_code()):
        key = (caller, callee, method, normalise_pattern(route))
        used.add(key)
        if key not in allowed:
            problems.append(f"{caller} calls {callee}: {method} {route}, which no entry allows")
    for entry in policy.entries:
        key = (entry.caller, entry.callee, entry.method, normalise_pattern(entry.pattern))
        if (entry.callee, entry.method, key[3]) not in exposed:
            problems.append(f"line {entry.line}: {entry} names a route {entry.callee} lacks")
        if key not in used:
            problems.append(f"line {entry.line}: {entry} is allowed but no code makes that call")
    return problems
