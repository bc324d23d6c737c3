"""How answers look: aligned tables and labelled lines for people (times in the user's zone, money rounded),
the API's JSON as-is for scripts. rich is imported only when something is printed for a person."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

SETTLED = frozenset({"Running", "Stopped", "Failed", "Deleted", "Lost"})
STATE_STYLES = {"Running": "green", "Failed": "red", "Lost": "red", "Stopped": "dim", "Deleted": "dim"}
# Past this, "in 3d 4h" says less than the date itself.
RELATIVE_WITHIN_SECONDS = 7 * 86400
# Pipes and files get lines as long as they need: a table cut at 80 columns cannot be grepped.
PIPE_WIDTH = 512


def money(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def hourly(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.3f}/h"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """A duration as a person says it: 45s, 12m, 2h, 2h 5m, 3d 4h (to the nearest minute past one)."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    days, rest = divmod(round(seconds / 60) * 60, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def relative(moment: datetime, now: datetime) -> str:
    delta = (moment - now).total_seconds()
    return f"in {span(delta)}" if delta >= 0 else f"{span(delta)} ago"


def stamp(value: Any) -> str:
    """An API time in the user's own zone, to the second (for audit trails)."""
    moment = parse_time(value)
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def when(value: Any, now: datetime | None = None) -> str:
    """An API time in the user's own zone, with how far off it is when that is near."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    text = moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    now = now or datetime.now(UTC)
    if abs((moment - now).total_seconds()) < RELATIVE_WITHIN_SECONDS:
        text += f" ({relative(moment, now)})"
    return text


def state_text(vm: dict[str, Any]) -> Text:
    from rich.text import Text

    state = str(vm.get("state", "?"))
    text = Text(state, style=STATE_STYLES.get(state, "yellow"))
    if vm.get("still_billing"):
        text.append(" (still billing)", style="red")
    return text


class Out:
    """Where a command's answer goes: stdout, as a table for people or as JSON for scripts."""

    def __init__(self, output: str) -> None:
        self.is_json = output == "json"
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            width = None if sys.stdout.isatty() else PIPE_WIDTH
            self._console = Console(highlight=False, width=width)
        return self._console

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def line(self, text: str | Text = "", style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False)

    def block(self, renderable: Any) -> None:
        """A table or grid; in a pipe without the padding rich adds to the end of each line."""
        if self.console.is_terminal:
            self.console.print(renderable)
            return
        with self.console.capture() as captured:
            self.console.print(renderable)
        click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def table(self, headers: list[str], rows: list[list[str | Text]], empty: str) -> None:
        if not rows:
            self.line(empty)
            return
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for header in headers:
            table.add_column(header, justify="right" if header in RIGHT_ALIGNED else "left")
        for row in rows:
            # Text cells: a VM tag or reason that looks like [markup] is printed as it is.
            table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
        self.block(table)

    def pairs(self, heading: str | Text, rows: list[tuple[str, str | Text]]) -> None:
        from rich.table import Table
        from rich.text import Text

        self.line(heading, style="bold")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        for label, value in rows:
            grid.add_row(Text("  " + label), value if isinstance(value, Text) else Text(value))
        self.block(grid)


RIGHT_ALIGNED = frozenset({"COST", "VCPUS", "MEMORY", "PRICE", "USED", "LIMIT", "USD"})


def schedule_text(schedule: dict[str, Any] | None) -> str:
    if not schedule:
        return "none"
    days_off = schedule.get("days_off") or []
    off = f", off {' '.join(days_off)}" if days_off else ""
    return f"{schedule.get('resume_at', '?')[:5]}-{schedule.get('stop_at', '?')[:5]} {schedule.get('timezone')}{off}"


def idle_text(idle: dict[str, Any] | None) -> str:
    if not idle or not idle.get("enabled", True):
        return "off"
    return (
        f"stop after {number(idle.get('window_minutes'))} min under {number(idle.get('cpu_percent'))}% CPU "
        f"and {number(idle.get('network_in_mb'))} MB in"
    )


def next_stop_text(stop: dict[str, Any], now: datetime | None = None) -> str:
    text = f"{stop.get('rule')}, {when(stop.get('due_at'), now)}"
    if stop.get("how"):
        text += f". {stop['how']}"  # a sentence of its own
    return text


def last_stop_text(stop: dict[str, Any], now: datetime | None = None) -> str:
    rule = f" ({stop['rule']})" if stop.get("rule") else ""
    reason = f": {stop['reason']}" if stop.get("reason") else ""
    return f"{when(stop.get('at'), now)} by {stop.get('by')}{rule}{reason}"


def vm_note(vm: dict[str, Any], now: datetime) -> str:
    """The one thing worth knowing in a list: the error, why it stopped, or when it will."""
    if vm.get("error_code"):
        return f"{vm['error_code']}: {vm.get('error_message') or ''}".strip()
    if vm.get("state") == "Stopped" and vm.get("last_stop"):
        stop = vm["last_stop"]
        return f"stopped by {stop.get('by')}" + (f" ({stop['rule']})" if stop.get("rule") else "")
    moment = parse_time((vm.get("next_stop") or {}).get("due_at"))
    if vm.get("state") == "Running" and moment is not None:
        return f"{vm['next_stop'].get('rule')} stop {relative(moment, now)}"
    return ""


def vm_rows(vms: list[dict[str, Any]], now: datetime) -> tuple[list[str], list[list[str | Text]]]:
    owners = {vm.get("owner") for vm in vms}
    headers = ["NAME", "STATE", "SIZE", *(["OWNER"] if len(owners) > 1 else []), "PUBLIC IP", "COST", "NOTE"]
    rows: list[list[str | Text]] = [
        [
            str(vm.get("name")),
            state_text(vm),
            str(vm.get("size")),
            *([str(vm.get("owner"))] if len(owners) > 1 else []),
            vm.get("public_ip") or "-",
            money(vm.get("cost_usd")),
            vm_note(vm, now),
        ]
        for vm in vms
    ]
    return headers, rows


def vm_details(out: Out, vm: dict[str, Any], now: datetime | None = None) -> None:
    """One VM: state, how to reach it, what it costs, and what will stop it."""
    from rich.text import Text

    now = now or datetime.now(UTC)
    heading = Text(f"{vm.get('name')}  ")
    heading.append_text(state_text(vm))
    if vm.get("power_state"):
        heading.append(f" ({vm['power_state']})")
    rows: list[tuple[str, str | Text]] = [
        ("size", f"{vm.get('size')} in {vm.get('location')}, {vm.get('os_disk_gb')} GB {vm.get('os_disk_type')}"),
        ("owner", str(vm.get("owner"))),
    ]
    for label, key in (("JupyterHub", "jupyterhub_url"), ("RStudio", "rstudio_url"), ("ssh", "ssh")):
        if vm.get(key):
            rows.append((label, str(vm[key])))
    cost = f"{money(vm.get('cost_usd'))} so far"
    if vm.get("burn_usd_per_hour") is not None:
        cost += f", {hourly(vm['burn_usd_per_hour'])} now"
    if vm.get("budget_usd") is not None:
        cost += f", budget {money(vm['budget_usd'])}"
    rows.append(("cost", cost))
    rows.append(("time limit", when(vm.get("keep_until"), now)))
    if vm.get("expires_at"):
        rows.append(("expires", when(vm["expires_at"], now)))
    if vm.get("snoozed_until"):
        rows.append(("snoozed", f"until {when(vm['snoozed_until'], now)}"))
    rows.append(("schedule", schedule_text(vm.get("schedule"))))
    rows.append(("idle", idle_text(vm.get("idle"))))
    rows.append(("access", ", ".join(vm.get("allowed_cidrs") or []) or "-"))
    if vm.get("next_stop"):
        rows.append(("next stop", next_stop_text(vm["next_stop"], now)))
    if vm.get("last_stop"):
        rows.append(("last stop", last_stop_text(vm["last_stop"], now)))
    if vm.get("error_code"):
        rows.append(("error", Text(f"{vm['error_code']}: {vm.get('error_message') or ''}", style="red")))
    out.pairs(heading, rows)
