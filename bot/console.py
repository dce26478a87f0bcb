"""What every ``talksbot`` subcommand shares, the CLI and the measuring commands alike.

It imports nothing of the project, so ``bot.cli`` and ``bot.measure`` both import it without a circle.
"""

from __future__ import annotations

import json


class CommandError(Exception):
    """An error worth one line to the user."""


def print_report(report: dict, *, as_json: bool) -> None:
    """A measurement command's figures: one JSON object (the last line), or aligned lines."""
    if as_json:
        print(json.dumps(report))
        return
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
