"""Printing the command line's tables whole: a key ref or an account id cut short is useless.

On a terminal a long cell folds onto more lines; into a pipe or a file (where there is no width
to fit, and scripts grep the output) the table is printed at its full width.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

UNBOUNDED_WIDTH = 10_000  # wider than any table; rich pads lines only to the table's own width


def print_whole(console: Console, table: Table) -> None:
    """Print `table` on `console` without cutting any cell."""
    for column in table.columns:
        column.overflow = "fold"
    if not console.is_terminal:
        console = Console(file=console.file, highlight=False, width=UNBOUNDED_WIDTH)
    console.print(table)
