"""``costcap route explain`` and ``costcap route eval``: the router's decision on one prompt, and
the classifier judged on a file of labelled prompts.

Both read ``[router]`` from costcap.toml (``--config``, else ``$COSTCAP_CONFIG``, else
``./costcap.toml``). Without one, they show the heuristic's built-in tier (simple, complex,
critical) and price nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from costcap._files import read_capped
from costcap.cli.app import app
from costcap.cli.formatting import decimal_text, money
from costcap.cli.options import config_path, non_negative, not_empty
from costcap.errors import ConfigError
from costcap.pricing import PriceCatalog, default_catalog
from costcap.router import BUILTIN_TIERS, Content, Router, classify, load_router
from costcap.router._eval import DEFAULT_OUTPUT_TOKENS, EvalReport, evaluate, parse_labelled

__all__ = ["route_app"]

route_app = typer.Typer(
    help="Model routing: explain a decision, judge the classifier on labelled prompts.",
    no_args_is_help=True,
)
app.add_typer(route_app, name="route")

MAX_PROMPTS_BYTES = 256 * 2**20
MAX_PROMPT_BYTES = 16 * 2**20

Feature = Annotated[
    str | None,
    typer.Option(help="The feature whose routes apply (default: [router]'s own tiers)."),
]
Config = Annotated[Path | None, typer.Option(help="costcap.toml (default: ./costcap.toml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _router(config: Path | None, feature: str | None) -> tuple[Router | None, PriceCatalog]:
    """The router of costcap.toml (None when it has no [router]) and its price catalog. A
    ``--feature`` with no routes there is a ConfigError."""
    path = config_path(config)
    if path is None:
        if feature is not None:
            raise ConfigError("--feature needs a costcap.toml with [router]: pass --config PATH")
        return None, default_catalog()
    routes = load_router(path)
    catalog = PriceCatalog.from_toml(path)
    if not routes.features and routes.routes is None:
        if feature is not None:
            raise ConfigError(f"{path}: no [router] table, so no routes for feature {feature!r}")
        return None, catalog
    if routes.for_feature(feature) is None:
        named = ", ".join(routes.features) or "none"
        which = f"feature {feature!r} has" if feature is not None else "[router] has"
        raise ConfigError(f"{path}: {which} no tiers (features with routes: {named}); "
                          "pass --feature NAME")  # fmt: skip
    return Router(routes, catalog=catalog), catalog


def _prompt_text(prompt: str) -> str:
    if prompt != "-":
        return prompt
    data = sys.stdin.buffer.read(MAX_PROMPT_BYTES + 1)
    if len(data) > MAX_PROMPT_BYTES:
        raise ConfigError("the prompt on standard input is over 16 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the prompt on standard input is not UTF-8 text") from None


@route_app.command()
def explain(
    prompt: Annotated[str, typer.Argument(help='The prompt ("-": read it from standard input).')],
    feature: Feature = None,
    system: Annotated[str | None, typer.Option(help="A system prompt sent with it.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="The output limit the call asks for.")
    ] = None,
    config: Config = None,
    as_json: AsJson = False,
) -> None:
    """Show the tier and model a prompt is routed to, and why."""
    not_empty(feature=feature)
    non_negative(max_tokens, name="--max-tokens")
    text = _prompt_text(prompt)
    router, _ = _router(config, feature)
    content = Content(prompt=text, system=system or "", max_tokens=max_tokens)
    if router is None:
        result = classify(content)
        info: dict[str, Any] = {
            "feature": feature, "tier": result.tier, "model": None, "reason": "auto",
            "reasons": list(result.reasons), "score": result.score,
        }  # fmt: skip
    else:
        decision = router.decide(feature, "costcap:auto", request=content)
        made = decision.classification
        info = {
            "feature": feature, "tier": decision.tier, "model": decision.model,
            "reason": decision.reason, "reasons": list(decision.reasons),
            "score": made.score if made is not None else None,
        }  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    where = f"feature {feature}" if feature is not None else "no feature"
    model = f" → {info['model']}" if info["model"] else ""
    console.print(f"{where} · tier [bold]{info['tier']}[/bold]{model} ({info['reason']})",
                  markup=True)  # fmt: skip
    points = f"score {info['score']}: " if info["score"] is not None else ""
    console.print(f"{points}{'; '.join(info['reasons']) or '-'}", markup=False)
    if router is None:
        console.print("no [router] in costcap.toml: the built-in tier only", markup=False)


def _read_lines(path: Path) -> list[str]:
    try:
        return read_capped(path, most=MAX_PROMPTS_BYTES).decode("utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:  # a file over the cap
        raise ConfigError(f"{path}: {exc}") from None


def _report_json(report: EvalReport, path: Path, feature: str | None, output: int) -> str:
    costs = report.costs
    return json.dumps(
        {
            "file": str(path),
            "feature": feature,
            "lines": report.lines,
            "tiers": list(report.tiers),
            "confusion": report.confusion,
            "correct": report.correct,
            "accuracy": str(report.accuracy),
            "routed_below_label": report.below,
            "routed_above_label": report.above,
            "default_output_tokens": output,
            "top_model": report.top_model,
            "default_tier": report.default_tier,
            "default_model": report.default_model,
            "cost_usd": None if costs is None else {k: decimal_text(v) for k, v in costs.items()},
        },
        indent=2,
    )


@route_app.command("eval")
def eval_(
    prompts: Annotated[Path, typer.Argument(help="JSONL: one {prompt, tier} object a line.")],
    feature: Feature = None,
    output_tokens: Annotated[
        int,
        typer.Option(help="Output tokens priced for a line that gives none."),
    ] = DEFAULT_OUTPUT_TOKENS,
    config: Config = None,
    as_json: AsJson = False,
) -> None:
    """Route labelled prompts: the confusion matrix, accuracy, and what the routed traffic
    costs beside always the top tier and always the default."""
    not_empty(feature=feature)
    non_negative(output_tokens, name="--output-tokens", most=10**9)
    router, catalog = _router(config, feature)
    routes = router.routes(feature) if router is not None else None
    tiers = routes.names if routes is not None else BUILTIN_TIERS
    labelled = parse_labelled(_read_lines(prompts), source=str(prompts), tiers=tiers,
                              routes=routes, output_tokens=output_tokens)  # fmt: skip
    report = evaluate(labelled, router=router, feature=feature, catalog=catalog,
                      source=str(prompts))  # fmt: skip
    if as_json:
        sys.stdout.write(_report_json(report, prompts, feature, output_tokens) + "\n")
        return
    _print_report(report, prompts, feature, output_tokens)


def _print_report(report: EvalReport, path: Path, feature: str | None, output: int) -> None:
    console = Console(highlight=False)
    title = f"route eval · {path} · {f'feature {feature}' if feature else 'no feature'}"
    table = Table(title=f"{title} · {report.lines} prompts", title_justify="left")
    table.add_column("labelled ↓ routed →")
    for tier in report.tiers:
        table.add_column(tier, justify="right")
    table.add_column("total", justify="right")
    for label in report.tiers:
        row = report.confusion[label]
        table.add_row(label, *(str(row[t]) for t in report.tiers), str(sum(row.values())))
    console.print(table)
    pct = f"{report.accuracy * 100:.1f} %"
    console.print(
        f"accuracy {pct} ({report.correct} of {report.lines}); routed below the label "
        f"{report.below}, above it {report.above}",
        markup=False,
    )
    costs = report.costs
    if costs is None:
        console.print("no [router] in costcap.toml: no models to price", markup=False)
        return
    console.print(
        f"cost of the traffic (input counted per model, output {output:,} tokens a call "
        "unless the line says):",
        markup=False,
    )
    rows = [
        ("routed", costs["routed"], ""),
        ("as labelled", costs["labelled"], ""),
        (f"always {report.tiers[-1]}", costs["top"], f"({report.top_model})"),
        ("always default", costs["default"], f"({report.default_tier}: {report.default_model})"),
    ]
    for name, usd, note in rows:
        console.print(f"  {name:<16} {money(usd):>12}  {note}".rstrip(), markup=False)
