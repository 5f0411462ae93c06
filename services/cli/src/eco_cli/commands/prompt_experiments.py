"""`eco prompts experiment create|results`: A/B experiments of one label of a prompt.

An arm is `--arm NAME=VERSION:WEIGHT` (`--arm control=3:0.5 --arm concise=4:0.5`); the
weights must sum to 1. Results are the store's (`GET /experiments/{id}/results`): per arm
the exposures, outcomes, mean score with its 95 % interval and the feedback rate; the
sample-ratio check; a verdict only once every arm has its minimum sample.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco

experiment_app = typer.Typer(help="A/B experiments over a prompt's label.", no_args_is_help=True)
_ARM = re.compile(r"(?P<name>[^=]+)=(?P<version>\d+):(?P<weight>[0-9.eE+-]+)")


def parse_arm(text: str) -> dict[str, Any]:
    """`NAME=VERSION:WEIGHT` as the store's arm."""
    found = _ARM.fullmatch(text.strip())
    if found is None:
        raise typer.BadParameter(f"{text!r}: expected NAME=VERSION:WEIGHT", param_hint="--arm")
    try:
        weight = float(found["weight"])
    except ValueError:
        raise typer.BadParameter(f"{text!r}: the weight is not a number") from None
    return {"name": found["name"], "version": int(found["version"]), "weight": weight}


@experiment_app.command("create")
def experiment_create(
    prompt: Annotated[str, typer.Argument(help="The prompt's name.")],
    label: Annotated[str, typer.Argument(help="The label whose traffic is split.")],
    arm: Annotated[
        list[str], typer.Option("--arm", "-a", help="NAME=VERSION:WEIGHT (repeat, ≥ 2).")
    ],
    name: Annotated[
        str | None, typer.Option(help="The experiment's name (default: PROMPT@LABEL).")
    ] = None,
    salt: Annotated[str | None, typer.Option(help="Assignment salt (default: the store's).")] = (
        None
    ),
    min_sample: Annotated[
        int | None, typer.Option(help="Outcomes per arm before a verdict (default 100).")
    ] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Start an experiment: LABEL of PROMPT split across versions by weight."""
    arms = [parse_arm(a) for a in arm]
    body: dict[str, Any] = {
        "name": name or f"{prompt}@{label}",
        "prompt": prompt,
        "label": label,
        "arms": arms,
    }
    if salt is not None:
        body["salt"] = salt
    if min_sample is not None:
        body["min_sample"] = min_sample

    async def create(eco: Eco) -> tuple[Any, str]:
        from eco_cli.links import console_base

        return await eco.prompts.create_experiment(body), await console_base(eco, data_dir)

    experiment, base = run(data_dir, create)
    if as_json:
        emit_json(experiment)
        return
    from eco_cli.links import console_link

    split = ", ".join(f"{a['name']}=v{a['version']} ({a['weight']:g})" for a in arms)
    console().print(f"experiment {experiment.id} on {prompt}@{label}: {split}")
    console().print(f"console {console_link(base, prompt, 'prompt')}", markup=False)


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@experiment_app.command("results")
def experiment_results(
    experiment_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Per arm: exposures, outcomes, score and feedback with intervals; SRM; the verdict."""
    results = run(data_dir, lambda eco: eco.prompts.experiment_results(experiment_id))
    if as_json:
        emit_json(results)
        return
    from rich.table import Table

    table = Table(title=f"experiment {experiment_id} ({results.status})")
    columns = ("arm", "version", "weight", "exposures", "outcomes", "score", "95 % interval")
    for column in (*columns, "up rate", "Wilson interval", "revisions", "latency ms", "tokens"):
        table.add_column(column)
    for arm in results.arms:
        score, up = arm.score, arm.feedback_up
        table.add_row(
            arm.arm,
            str(arm.version),
            f"{arm.weight:g}",
            str(arm.exposures),
            f"{arm.outcomes} ({arm.fallback_outcomes} fallback)",
            _number(score.mean),
            _interval(score.low, score.high),
            _number(up.rate),
            _interval(up.low, up.high),
            _number(arm.revisions_mean, 2),
            _number(arm.latency_ms_mean, 0),
            _number(arm.tokens_mean, 0),
        )
    out = console()
    out.print(table)
    srm = results.srm
    ratio = "[red]MISMATCH[/]" if srm.mismatch else "ok"
    out.print(f"sample ratio: {ratio} (chi2 {srm.chi2:.3f}, df {srm.df}, p {srm.p_value:.4g})")
    verdict = results.verdict
    if verdict is None:
        out.print(f"verdict: not yet ({results.verdict_withheld or 'no outcomes'})")
        return
    clear = "overlapping intervals: no clear winner" if verdict.intervals_overlap else "clear"
    out.print(
        f"verdict: {verdict.leader} leads on {verdict.metric} ({verdict.leader_mean:.3f} vs "
        f"{verdict.runner_up} {verdict.runner_up_mean:.3f}; {clear})"
    )
