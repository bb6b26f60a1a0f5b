"""The registry is the one list of services: the import contracts, the packages on disk and
each service's served routes all agree with it."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import APIRouter, FastAPI

import tenantry.services
from tenantry.platform.policy import normalise_pattern
from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_spec import (
    Placement,
    ServiceSpec,
    SpecMismatch,
    build_app,
    declared_routes,
    running_loops,
    served_routes,
)
from tenantry.platform.storage.migrations import revisions_head
from tenantry.services.registry import SPECS, UnknownService, public_routes, spec

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = Path(tenantry.services.__file__).parent


def contracts() -> dict[str, dict[str, Any]]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in document["tool"]["importlinter"]["contracts"]}


def packages() -> set[str]:
    return {f"tenantry.services.{spec.name}" for spec in SPECS}


def test_the_independence_contract_lists_exactly_the_registered_services() -> None:
    independence = contracts()["Services never import each other"]
    assert independence["type"] == "independence"
    assert set(independence["modules"]) == packages()
    assert len(independence["modules"]) == len(SPECS)


def test_every_service_but_the_blob_store_owner_is_kept_from_blob_stores() -> None:
    blobs = contracts()["Only media and backup touch blob stores"]
    owners = {s.name for s in SPECS if s.private_env_prefix == "TENANTRY_MEDIA_"}
    assert owners == {"media"}
    # backup may touch blob stores too: it keeps copies of media's blobs.
    expected = {f"tenantry.services.{name}" for name in spec_names() - owners - {"backup"}}
    assert set(blobs["source_modules"]) == expected | {"tenantry.cli"}


def test_the_layers_contract_puts_the_cli_above_services_above_the_platform() -> None:
    layers = contracts()["Layers: the CLI above the services above the platform"]
    assert layers["type"] == "layers"
    assert layers["layers"] == ["tenantry.cli", "tenantry.services", "tenantry.platform"]


def spec_names() -> set[str]:
    return {s.name for s in SPECS}


def test_every_service_package_on_disk_is_registered_under_its_own_name() -> None:
    on_disk = {
        path.parent.name for path in SERVICES_DIR.glob("*/__init__.py") if path.parent.is_dir()
    }
    assert on_disk == spec_names()
    for registered in SPECS:
        module = __import__(f"tenantry.services.{registered.name}.spec", fromlist=["SPEC"])
        assert module.SPEC is registered


def test_global_services_come_first() -> None:
    placements = [s.placement for s in SPECS]
    assert placements == sorted(placements, key=lambda p: p is not Placement.GLOBAL)


def test_an_unknown_service_is_a_clear_error() -> None:
    with pytest.raises(
        UnknownService, match="unknown service 'nope'; one of: analytics, audit, backup, edge"
    ):
        spec("nope")


def test_every_schema_declares_the_head_alembic_finds_in_its_revisions() -> None:
    """A serving process trusts the declared head (it never loads Alembic): it must be true."""
    schemas = [found.schema for found in SPECS if found.schema is not None]
    assert schemas
    for schema in schemas:
        assert schema.head_revision == revisions_head(schema.migrations), schema.service


def test_every_service_that_keeps_databases_declares_routers() -> None:
    for registered in SPECS:
        if registered.schema is not None:
            assert declared_routes(registered), registered.name


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/notes/{note_id}")
    async def read(note_id: str) -> dict[str, str]:
        return {"id": note_id}

    return router


def _extra_router() -> APIRouter:
    router = APIRouter()

    @router.delete("/notes/{note_id}")
    async def remove(note_id: str) -> None:
        return None

    return router


def _spec(*served: Any) -> ServiceSpec:
    def create_app(_runtime: ServiceRuntime) -> FastAPI:
        app = FastAPI()
        for build in served:
            app.include_router(build())
        return app

    return ServiceSpec(
        name="notes", placement=Placement.REGIONAL, create_app=create_app, routers=lambda: [_router]
    )


RUNTIME = cast(ServiceRuntime, SimpleNamespace(service="notes"))


def test_an_app_serving_exactly_its_declared_routes_is_built() -> None:
    app = build_app(_spec(_router), RUNTIME)
    assert served_routes(app) == {("GET", "/notes/{}")}


def test_an_app_serving_a_route_its_spec_does_not_declare_does_not_start() -> None:
    with pytest.raises(SpecMismatch, match=r"does not declare: \['DELETE /notes/\{\}'\]"):
        build_app(_spec(_router, _extra_router), RUNTIME)


def test_an_app_missing_a_declared_route_does_not_start() -> None:
    with pytest.raises(SpecMismatch, match=r"does not serve: \['GET /notes/\{\}'\]"):
        build_app(_spec(), RUNTIME)


def test_a_runtime_of_another_service_is_refused() -> None:
    other = cast(ServiceRuntime, SimpleNamespace(service="issues"))
    with pytest.raises(ValueError, match="cannot run notes"):
        build_app(_spec(_router), other)


def test_an_app_running_a_loop_its_spec_does_not_declare_does_not_start() -> None:
    def create_app(_runtime: ServiceRuntime) -> FastAPI:
        app = FastAPI()
        app.include_router(_router())
        app.state.background_loops = ("note-sweeps", "note-mailer")
        return app

    declared = ServiceSpec(
        name="notes",
        placement=Placement.REGIONAL,
        create_app=create_app,
        routers=lambda: [_router],
        loops=frozenset({"note-sweeps"}),
    )
    with pytest.raises(
        SpecMismatch, match=r"runs loops its spec does not declare: \['note-mailer'\]"
    ):
        build_app(declared, RUNTIME)
    assert running_loops(
        build_app(replace(declared, loops=frozenset({"note-sweeps", "note-mailer"})), RUNTIME)
    ) == ("note-sweeps", "note-mailer")


def test_each_public_route_is_declared_once_by_the_service_that_serves_it() -> None:
    table = public_routes()
    assert len({(route.method, route.pattern) for route in table}) == len(table)
    for registered in SPECS:
        served = declared_routes(registered)
        for route in registered.public_routes:
            assert (route.method, normalise_pattern(route.pattern)) in served, route


def test_a_spec_cannot_declare_another_service_s_public_route() -> None:
    with pytest.raises(ValueError, match="notes declares a public route of issues"):
        ServiceSpec(
            name="notes",
            placement=Placement.REGIONAL,
            create_app=lambda _runtime: FastAPI(),
            public_routes=(PublicRoute("GET", "/rest/issues/issues", "issues"),),
        )
