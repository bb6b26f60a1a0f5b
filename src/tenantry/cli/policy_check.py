"""Compare the allowlist with the code, so the policy can never drift from what really happens.

Three kinds of drift fail the check:
- a call the code makes that no entry allows;
- an entry naming a route its callee does not expose;
- an entry no code uses (a permission nobody needs is one an attacker could use).

Calls are found by reading the source: `client.call("callee", "METHOD", "/route/{param}")` with
literal arguments, plus the edge's public route table. A call written in a platform module is
made by every service that imports that module. Exposed routes come from each service's own
routers.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tenantry
from tenantry.platform.policy import Policy, load_policy, normalise_pattern
from tenantry.services.edge.public_routes import PUBLIC_ROUTES
from tenantry.services.identity.internal_routes import (
    build_internal_router as identity_internal,
)
from tenantry.services.identity.routes import build_router as identity_router
from tenantry.services.issues.attachments import build_attachments_router as issues_files
from tenantry.services.issues.internal_routes import build_internal_router as issues_internal
from tenantry.services.issues.routes import build_router as issues_router
from tenantry.services.kms.byok_routes import build_byok_router as kms_byok_router
from tenantry.services.kms.owner_routes import build_owner_router as kms_owner_router
from tenantry.services.kms.routes import build_router as kms_router
from tenantry.services.media.reseal import build_reseal_router as media_reseal
from tenantry.services.media.routes import build_router as media_router
from tenantry.services.tcs.routes import build_router as tcs_router

Call = tuple[str, str, str, str]  # caller, callee, method, route

ROUTER_BUILDERS: dict[str, list[Callable[..., Any]]] = {
    "identity": [identity_router, identity_internal],
    "tcs": [tcs_router],
    "issues": [issues_router, issues_files, issues_internal],
    "kms": [kms_router, kms_owner_router, kms_byok_router],
    "media": [media_router, media_reseal],
}
CALLERS_BY_PACKAGE = {
    "services/identity": "identity",
    "services/tcs": "tcs",
    "services/edge": "edge",
    "services/issues": "issues",
    "services/kms": "kms",
    "services/media": "media",
    "cli": "operator",
}
PLATFORM_ROUTES = frozenset({"/_health", "/_ready", "/_metrics"})
OPENAPI_ROUTE = "/openapi.json"
"""Every service app serves its own OpenAPI document (FastAPI builds it from the routers)."""


def exposed_routes() -> set[tuple[str, str, str]]:
    """(service, METHOD, normalised pattern) for every route each service serves."""
    routes = {(service, "GET", OPENAPI_ROUTE) for service in ROUTER_BUILDERS}
    for service, builders in ROUTER_BUILDERS.items():
        for build in builders:
            # Building a router only declares routes; its dependencies are never touched here.
            placeholders = [None] * len(inspect.signature(build).parameters)
            for route in build(*placeholders).routes:
                for method in getattr(route, "methods", ()):
                    routes.add((service, method, normalise_pattern(route.path)))
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
    for package, caller in CALLERS_BY_PACKAGE.items():
        for source in (root / package).rglob("*.py"):
            tree = ast.parse(source.read_text())
            calls.update(_literal_calls(tree, caller))
            for module in _imported_modules(tree):
                for _, callee, method, pattern in platform_calls.get(module, ()):
                    calls.add((caller, callee, method, pattern))
    for route in PUBLIC_ROUTES:
        calls.add(("edge", route.service, route.method, route.pattern))
    return calls


def check_policy(policy_file: Path | None = None) -> list[str]:
    """Every drift between the policy and the code, as sentences; empty when they agree."""
    policy: Policy = load_policy(policy_file)
    problems = []
    exposed = exposed_routes()
    allowed = {
        (entry.caller, entry.callee, entry.method, normalise_pattern(entry.pattern))
        for entry in policy.entries
    }
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
