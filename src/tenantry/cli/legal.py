"""`tenantry legal`: the transparency register of government and legal requests for customer
data, and the annual transparency report built from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir

if TYPE_CHECKING:
    from tenantry.platform.client import ServiceClient

legal_app = typer.Typer(
    no_args_is_help=True, help="The transparency register and the annual report."
)
request_app = typer.Typer(no_args_is_help=True, help="Government and legal requests for data.")
legal_app.add_typer(request_app, name="request")
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


class RequestType(StrEnum):
    """The legal process a request is."""

    SUBPOENA = "subpoena"
    COURT_ORDER = "court-order"
    WARRANT = "warrant"
    EMERGENCY = "emergency"
    NATIONAL_SECURITY = "national-security"


class State(StrEnum):
    """Where a request stands."""

    RECEIVED = "received"
    UNDER_LEGAL_REVIEW = "under-legal-review"
    OBJECTED = "objected"
    DISCLOSED = "disclosed"
    NO_DATA = "no-data"


class Disclosure(StrEnum):
    """What a disclosure gave."""

    CONTENT = "content"
    NON_CONTENT = "non-content"


class Format(StrEnum):
    """How the report is written."""

    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


AsJson = Annotated[bool, typer.Option("--json", help="Print the request as JSON.")]


def _day(value: str | None, option: str) -> str | None:
    """A YYYY-MM-DD day, not in the future; a bad one ends the command with exit 2."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != len("2026-01-01"):
        err.print(f"[red]{option} {value!r} is not a date:[/] give it as YYYY-MM-DD")
        raise typer.Exit(2)
    if day > datetime.now(UTC).date():
        err.print(f"[red]{option} {value} is in the future[/]")
        raise typer.Exit(2)
    return value


def _run(data_dir: Path, call: Callable[[ServiceClient], Awaitable[T]]) -> T:
    """Run `call` as the operator: exit 1 with tcs's reason if refused, 2 with no cloud."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator
    from tenantry.cli.site_calls import OperatorCallFailed

    try:
        return run_as_operator(data_dir, call)
    except OperatorCallFailed as exc:
        err.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {data_dir}:[/] {exc}")
        raise typer.Exit(2) from exc


def _print(request: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(request, option=orjson.OPT_INDENT_2).decode())
        return
    done = request["state"]
    if request.get("disclosure"):
        done += f" ({request['disclosure']})"
    notice = (
        f"notice sent {request['notice_sent']}"
        if request.get("notice_sent")
        else "no notice: " + request["notice_withheld_reason"]
        if request.get("notice_withheld_reason")
        else "no notice recorded"
    )
    typer.echo(
        f"request {request['id']}: {request['type']} from {request['jurisdiction']}, received "
        f"{request['received']}, naming {', '.join(request['sites'])} and "
        f"{len(request['accounts'])} accounts; {done}; {notice}"
    )


@request_app.command("add")
def add(
    jurisdiction: Annotated[
        str, typer.Option("--jurisdiction", help="Two-letter country code, or EU.")
    ],
    request_type: Annotated[RequestType, typer.Option("--type", help="The legal process.")],
    sites: Annotated[
        list[str], typer.Option("--site", help="A site the request names (repeat for more).")
    ],
    received: Annotated[str, typer.Option("--received", help="The day it arrived, YYYY-MM-DD.")],
    accounts: Annotated[
        list[str] | None,
        typer.Option("--account", help="An account id the request names (repeat for more)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="The requester's own reference.")
    ] = None,
    as_json: AsJson = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Record a government or legal request for customer data, as received."""
    from tenantry.cli.legal_calls import add_request

    data_dir = resolve_data_dir(data_dir_given)
    fields: dict[str, Any] = {
        "jurisdiction": jurisdiction.upper(),
        "type": request_type.value,
        "sites": sites,
        "accounts": accounts or [],
        "received": _day(received, "--received"),
    }
    if reference is not None:
        fields["reference"] = reference
    _print(_run(data_dir, lambda client: add_request(client, fields)), as_json)


@request_app.command("update")
def update(
    request_id: Annotated[int, typer.Argument(help="The request's id.", min=1, metavar="ID")],
    state: Annotated[State | None, typer.Option("--state", help="Its next state.")] = None,
    disclosure: Annotated[
        Disclosure | None,
        typer.Option("--disclosure", help="With --state disclosed: what was given."),
    ] = None,
    notice_sent: Annotated[
        str | None,
        typer.Option("--notice-sent", help="The day the customer was notified, YYYY-MM-DD."),
    ] = None,
    notice_withheld: Annotated[
        str | None,
        typer.Option("--notice-withheld", help="Why the request forbids notifying the customer."),
    ] = None,
    as_json: AsJson = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Move a request to its next state, or record its customer notice (or why there is
    none, which a disclosure needs first)."""
    from tenantry.cli.legal_calls import update_request

    data_dir = resolve_data_dir(data_dir_given)
    change: dict[str, Any] = {}
    if state is not None:
        change["state"] = state.value
    if disclosure is not None:
        change["disclosure"] = disclosure.value
    if notice_sent is not None:
        change["notice_sent"] = _day(notice_sent, "--notice-sent")
    if notice_withheld is not None:
        change["notice_withheld_reason"] = notice_withheld
    if not change:
        err.print("[red]nothing to change:[/] give --state, --notice-sent or --notice-withheld")
        raise typer.Exit(2)
    _print(_run(data_dir, lambda client: update_request(client, request_id, change)), as_json)


@request_app.command("show")
def show(
    request_id: Annotated[int, typer.Argument(help="The request's id.", min=1, metavar="ID")],
    as_json: AsJson = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Show one request as it stands."""
    from tenantry.cli.legal_calls import show_request

    data_dir = resolve_data_dir(data_dir_given)
    _print(_run(data_dir, lambda client: show_request(client, request_id)), as_json)


@request_app.command("list")
def list_all(
    year: Annotated[
        int | None, typer.Option("--year", min=2000, max=9999, help="Received that year.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, for scripts.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """List the register's requests, oldest first."""
    from tenantry.cli.legal_calls import list_requests

    data_dir = resolve_data_dir(data_dir_given)
    requests = _run(data_dir, lambda client: list_requests(client, year))
    if as_json:
        typer.echo(orjson.dumps(requests, option=orjson.OPT_INDENT_2).decode())
        return
    for request in requests:
        _print(request, False)


@legal_app.command("report")
def report(
    year: Annotated[int, typer.Option("--year", min=2000, max=9999, help="The report's year.")],
    output_format: Annotated[
        Format, typer.Option("--format", help="json, markdown or html.")
    ] = Format.MARKDOWN,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file (default: print it).")
    ] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Publish the transparency report of a year: per jurisdiction group, the requests
    received, the accounts named and how each was answered; national-security counts banded."""
    from tenantry.cli.legal_calls import list_requests
    from tenantry.cli.legal_report import as_html, as_json, as_markdown, build_report

    data_dir = resolve_data_dir(data_dir_given)
    built = build_report(year, _run(data_dir, lambda client: list_requests(client, year)))
    render = {Format.JSON: as_json, Format.MARKDOWN: as_markdown, Format.HTML: as_html}
    text = render[output_format](built)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]cannot write {out}:[/] {exc.strerror}")
        raise typer.Exit(2) from exc
    typer.echo(f"transparency report {year} written to {out}")
