"""The personal-data check fails for every gap between a declaration and the tables: a new
service or table without one, an account column declared free, a declared column that does not
exist, and steps a store holding personal data does not serve."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table

from tenantry.cli.personal_data_check import check_personal_data
from tenantry.platform.personal_data import (
    Holds,
    NoPersonalData,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
)
from tenantry.platform.service_spec import ServiceSpec
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.services.registry import SPECS, spec


def test_the_shipped_services_all_declare_their_personal_data() -> None:
    assert check_personal_data() == []
    assert all(s.personal_data is not None for s in SPECS)


def test_a_service_without_a_declaration_fails() -> None:
    undeclared = dataclasses.replace(spec("issues"), personal_data=None)
    assert check_personal_data([undeclared]) == [
        "issues declares no personal data: give its spec a `personal_data` naming every "
        "table it keeps and what each holds about people"
    ]


def _notes_spec(declaration: PersonalData, *columns: str) -> ServiceSpec:
    metadata = MetaData()
    Table(
        "notes",
        metadata,
        Column("tenant_id", String, primary_key=True),
        *(Column(name, String) for name in columns),
    )
    schema = ServiceSchema("notes", metadata, Path("."), head_revision="0001")
    return dataclasses.replace(
        spec("issues"), name="notes", schema=schema, personal_data=declaration, public_routes=()
    )


def test_a_new_table_without_a_declaration_fails() -> None:
    problems = check_personal_data([_notes_spec(PersonalData(), "text")])
    assert len(problems) == 1 and "table notes has no personal-data declaration" in problems[0]


def test_an_account_column_declared_free_fails() -> None:
    free = PersonalData(free=(NoPersonalData("notes", "nothing here"),))
    problems = check_personal_data([_notes_spec(free, "author")])
    assert problems == [
        "notes's table notes refers to an account in column author but is declared free of "
        "personal data"
    ]


def test_an_unlisted_account_column_and_a_missing_column_fail() -> None:
    declared = PersonalData(
        tables=(
            PersonalTable(
                "notes",
                subject="author",
                fields=(PersonalField("body", Holds.AUTHORED_TEXT, OnErase.RETAIN),),
            ),
        )
    )
    problems = check_personal_data([_notes_spec(declared, "author", "editor_account_id")])
    assert "notes declares column notes.body, which it lacks" in problems
    assert any(
        "column editor_account_id, which its declaration does not list" in p for p in problems
    )


def test_personal_data_without_served_steps_fails() -> None:
    erasable = PersonalData(
        tables=(
            PersonalTable(
                "notes",
                subject="author",
                fields=(PersonalField("body", Holds.AUTHORED_TEXT, OnErase.CONTENT),),
            ),
        )
    )
    problems = check_personal_data([_notes_spec(erasable, "author", "body")])
    assert "notes holds personal data but declares no export step" in problems
    assert "notes holds personal data but declares no erase step" in problems
    assert "notes has export and erase steps that the privacy service never runs" in problems
