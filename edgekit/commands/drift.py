"""``edgekit drift status``: the fleet's drift alerts and the latest drift statistics, from the server."""

from typing import Annotated, Any

import typer

from .common import JsonFlag, KeyOption, ServerOption, emit_json, examples, stdout

drift_app = typer.Typer(help="Drift of what devices see against what the model was trained on.", no_args_is_help=True)


def alert_line(alert: dict[str, Any]) -> str:
    from ..display.figures import count

    cohort = "all devices" if alert["cohort"] == "*" else f"cohort {alert['cohort']}"
    return (f"alert {alert['id']} [{alert['state']}] {alert['model']} release {alert['release']} on {alert['profile']}, {cohort}: "
            f"{alert['feature']} {alert['statistic']} {alert['value']:.3g} >= {alert['threshold']:g} over {count(alert['rows'])} rows "
            f"(since {alert['opened'][:19]})")


@drift_app.command("status", epilog=examples(
    "edgekit drift status --server http://127.0.0.1:8080", "edgekit drift status --model breast-cancer --evaluate"))
def drift_status(
    server: ServerOption,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Run a monitor pass first (admin key).")] = False,
    every_alert: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Open drift alerts and the latest statistics per release, profile, cohort and feature.
    Exit 1 when an alert is open (for scripts and CI)."""
    from ..fleet.client import AdminClient

    client = AdminClient(server, admin_key)
    if evaluate:
        client.request("POST", "/v1/admin/monitor/run")
    params = {"state": "all" if every_alert else "open", **({"model": model} if model else {})}
    alerts = client.request("GET", "/v1/admin/alerts", params=params)
    statistics = client.request("GET", "/v1/admin/drift", params={"model": model} if model else None)
    if as_json:
        emit_json({"alerts": alerts, "drift": statistics})
    else:
        if statistics:
            print_drift_table(stdout, statistics)
        stdout.print("\n".join(alert_line(alert) for alert in alerts) or "no open drift alerts")
    if any(alert["state"] == "open" for alert in alerts):
        raise typer.Exit(1)


def print_drift_table(console: Any, statistics: list[dict[str, Any]]) -> None:
    """The latest statistics; a column whose value is the same on every row moves into the title, so
    the identifiers left (release, profile, cohort, feature) fit whole in 80 columns."""
    from ..display.figures import count
    from ..display.tables import identifier_column, people_table, print_table

    names = ("model", "release", "profile", "cohort", "feature")
    shared = [name for name in names[:-1] if len({row[name] for row in statistics}) == 1]
    title = "latest drift statistics" + "".join(f", {name} {statistics[0][name]}" for name in shared)
    table = people_table(title)
    for name in names:
        if name not in shared:
            identifier_column(table, name, (row[name] for row in statistics), justify="right" if name == "release" else "left")
    for column in ("rows", "psi", "ks", "violations"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in statistics:
        table.add_row(*(str(row[name]) for name in names if name not in shared), count(row["rows"]),
                      f"{row['psi']:.3f}", f"{row['ks']:.3f}", f"{row['violation_rate']:.1%}")
    print_table(console, table)
