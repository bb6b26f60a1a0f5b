"""Compare each service's personal-data declaration with its tables and routes, so that no
table or service can keep a person's data that an export or an erasure would not reach.

It fails, as sentences, for:
- a service whose spec declares no personal data at all;
- a table of a service's schema that its declaration does not name, or names twice;
- a declared table or column that the schema does not have;
- a table declared free of personal data that has a column referring to an account;
- a service holding personal data without an export and an erase step it serves;
- a service with steps that the privacy service does not run, or one holding personal data
  that a receipt does not list.
`tenantry policy check` runs it with the allowlist check.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table

from tenantry.platform.personal_data import (
    AUDIT_OUTBOX,
    NoPersonalData,
    PersonalData,
    PersonalTable,
    refers_to_an_account,
)
from tenantry.platform.policy import normalise_pattern
from tenantry.platform.service_spec import ServiceSpec, declared_routes
from tenantry.services.privacy.steps import STORES
from tenantry.services.privacy.work import RETAINED
from tenantry.services.registry import SPECS


def check_personal_data(specs: Iterable[ServiceSpec] = SPECS) -> list[str]:
    """Every gap between the services' declarations and their tables, as sentences."""
    problems: list[str] = []
    for spec in specs:
        declaration = spec.personal_data
        if declaration is None:
            problems.append(
                f"{spec.name} declares no personal data: give its spec a `personal_data` "
                "naming every table it keeps and what each holds about people"
            )
            continue
        tables = {} if spec.schema is None else dict(spec.schema.metadata.tables)
        problems.extend(_table_problems(spec.name, declaration, tables))
        problems.extend(_step_problems(spec, declaration))
        problems.extend(_coverage_problems(spec.name, declaration))
    return problems


def _coverage_problems(service: str, declaration: PersonalData) -> list[str]:
    """An export or erasure reaches every store with steps, and its receipt names every
    store that keeps personal data (an audit outbox only passes events on to audit)."""
    retained = {str(entry["store"]) for entry in RETAINED}
    if declaration.needs_steps and service not in STORES:
        return [f"{service} has export and erase steps that the privacy service never runs"]
    kept = [table for table in declaration.tables if table is not AUDIT_OUTBOX]
    if kept and service not in {*STORES, *retained, "privacy"}:
        return [f"{service} keeps personal data that an erasure's receipt does not list"]
    return []


def _table_problems(service: str, declaration: PersonalData, tables: dict[str, Table]) -> list[str]:
    problems = []
    entries: list[PersonalTable | NoPersonalData] = [*declaration.tables, *declaration.free]
    named = [entry.table for entry in entries]
    for twice in sorted({name for name in named if named.count(name) > 1}):
        problems.append(f"{service} declares table {twice} twice")
    declared = declaration.declared_tables()
    for missing in sorted(set(tables) - set(declared)):
        problems.append(
            f"{service}'s table {missing} has no personal-data declaration: name it in the "
            "service's personal_data, as a PersonalTable or as NoPersonalData with the reason"
        )
    for name, entry in sorted(declared.items()):
        table = tables.get(name)
        if table is None:
            problems.append(f"{service} declares table {name}, which its schema lacks")
            continue
        columns = set(table.columns.keys())
        if isinstance(entry, NoPersonalData):
            for column in sorted(c for c in columns if refers_to_an_account(c)):
                problems.append(
                    f"{service}'s table {name} refers to an account in column {column} but "
                    "is declared free of personal data"
                )
            continue
        for column in (entry.subject, *(field.column for field in entry.fields)):
            if column not in columns:
                problems.append(f"{service} declares column {name}.{column}, which it lacks")
        listed = {field.column for field in entry.fields} | {entry.subject}
        for column in sorted(c for c in columns - listed if refers_to_an_account(c)):
            problems.append(
                f"{service}'s table {name} refers to an account in column {column}, which "
                "its declaration does not list"
            )
    return problems


def _step_problems(spec: ServiceSpec, declaration: PersonalData) -> list[str]:
    if not declaration.needs_steps:
        return []
    problems = []
    served = declared_routes(spec)
    for kind, step in (("export", declaration.export_step), ("erase", declaration.erase_step)):
        if step is None:
            problems.append(f"{spec.name} holds personal data but declares no {kind} step")
        elif (step[0], normalise_pattern(step[1])) not in served:
            problems.append(
                f"{spec.name}'s {kind} step {step[0]} {step[1]} is not a route it serves"
            )
    return problems
