"""``vldac report RUN_DIR``: one self-contained HTML page explaining a run.

The page holds the resolved config, the summary, a learning curve per logged metric (matplotlib
PNGs embedded as data URIs, each in an element with id ``curve-<metric>``; a metric logged with
``<metric>_stderr``, as image_kl, drawn with a band of one standard error) and a viewer of the
trajectories the trainer saved (``train.log_trajectories``): each step's frames (class
``trajectory-frame``), the model's thoughts and action, reward and value, invalid answers marked.
The provenance of the last checkpoint (vldac.provenance: version and commit, libraries, settings
hash, seeds, worlds, machine) closes the page. Several runs of one recipe (training seeds) make one
page of their own: the final numbers per run with their mean and standard error over the runs,
and their curves side by side.
Nothing is fetched from the network when the page is opened; it needs no script.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
import yaml

from vldac.provenance import PROVENANCE_FILE

PAPER_URL = "https://arxiv.org/abs/2508.04280"

CURVES = [
    ("success_rate", "success rate (training episodes, sampled)"),
    ("greedy_success_rate", "greedy success rate (validation seeds)"),
    ("mean_return", "mean return (training episodes)"),
    ("mean_length", "mean episode length"),
    ("invalid_rate", "invalid answer rate"),
    ("policy_loss", "policy loss"),
    ("value_loss", "value loss"),
    ("kl", "KL to the reference"),
    ("clip_fraction", "clip fraction"),
    ("explained_variance", "explained variance of the critic"),
    ("first_ratio_error", "first PPO ratio error |r - 1|"),
    ("image_kl", "image dependence: KL(frames || blank frames), nats/answer"),
    ("env_steps_per_s", "throughput (env steps/s)"),
    ("tokens_per_s", "generation (tokens/s)"),
    ("lr", "policy learning rate"),
]
"""(metrics.jsonl key, title): the curves drawn, each where the run logged a number for it."""

TRAJECTORY_FILES = "update_*.json"
"""The trainer's trajectory files in RUN_DIR/trajectories (see vldac.train.trajectories)."""

MAX_LOGGED_UPDATES = 12
"""At most this many logged updates are shown in the viewer (evenly spread, first and last kept)."""


class ReportUnavailable(ValueError):
    """The report cannot be drawn here (matplotlib missing)."""


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Write the report of ``run_dir`` (default ``run_dir/report.html``) and return its path."""
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl; vldac report takes a run folder written by vldac train.")
    rows, unreadable = read_metrics(metrics_path)
    config_path = run_dir / "config.yaml"
    summary_path = run_dir / "summary.json"
    config_text = config_path.read_text() if config_path.is_file() else "(no config.yaml)"
    summary = read_json(summary_path) if summary_path.is_file() else None
    sections = [
        f"<h1>vldac run <code>{html.escape(run_dir.name)}</code></h1>",
        f'<p>Trained with VL-DAC and its baselines (<a href="{PAPER_URL}">arXiv 2508.04280</a>).</p>',
        summary_section(summary, rows),
        (f"<p class='missing'>{unreadable} line(s) of metrics.jsonl could not be read (a run still writing, or killed "
         "mid-line) and are left out of the curves.</p>") if unreadable else "",
        curves_section(rows),
        bench_section(rows, read_json(run_dir / "bench_warm_start.json")),
        trajectories_section(sorted((run_dir / "trajectories").glob(TRAJECTORY_FILES))),
        f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>",
        provenance_section(run_provenance(run_dir)),
    ]
    page = PAGE.format(title=html.escape(f"vldac report: {run_dir.name}"), style=STYLE, body="\n".join(sections))
    output = output or run_dir / "report.html"
    output.write_text(page)
    return output


def run_provenance(run_dir: Path) -> dict | None:
    """The provenance block of a run's newest checkpoint that has one (None before the first
    checkpoint, or for runs older than provenance.json)."""
    checkpoints = run_dir / "checkpoints"
    candidates = [checkpoints / "last", *sorted(checkpoints.glob("update_*"), reverse=True)]
    for candidate in candidates:
        block = read_json(candidate / PROVENANCE_FILE)
        if block is not None:
            return block
    return None


def provenance_section(block: dict | None) -> str:
    """What produced the run, as a table (every CPU flag in a folded list)."""
    if block is None:
        return ("<h2 id='provenance'>Provenance</h2><p class='missing'>No checkpoint of this run holds provenance.json "
                "(none written yet, or written by a vldac older than it).</p>")
    source, machine = block.get("vldac") or {}, block.get("machine") or {}
    cpu = machine.get("cpu") or {}
    commit = source.get("commit") or "not run from a git clone"
    if source.get("dirty"):
        commit += " (with uncommitted changes)"
    versions = ", ".join(f"{name} {version}" for name, version in (block.get("versions") or {}).items() if version)
    items = [
        ("vldac", f"{source.get('version')} at {commit}"),
        ("python", str(block.get("python"))),
        ("versions", versions),
        ("settings sha256", str(block.get("settings_sha256"))),
        ("recipe sha256 (less seed, name, folder)", str(block.get("recipe_sha256"))),
        ("resumed from", str(block.get("resumed_from") or "-")),
        ("seeds", json.dumps(block.get("seeds"))),
        ("worlds", json.dumps(block.get("worlds"))),
        ("machine", f"{machine.get('system')}; {cpu.get('model')}; {machine.get('cpu_count')} CPUs, "
                    f"{machine.get('torch_threads')} torch threads; GPUs: {', '.join(machine.get('gpus') or []) or 'none'}"),
    ]
    cells = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in items)
    flags = html.escape(" ".join(cpu.get("flags") or []))
    return (f"<h2 id='provenance'>Provenance</h2><table class='summary'>{cells}</table>"
            f"<details class='raw'><summary>CPU flags</summary><pre>{flags}</pre></details>")


SEED_ONLY_KEYS = ("seed", "name", "output_dir")
"""Settings that may differ between the runs of one multi-seed page."""


def final_numbers(run_dir: Path) -> dict:
    """A run's final numbers for the multi-seed page: last and best greedy validation success, last
    sampled success, env steps and training time (None where the run logged none)."""
    rows, _ = read_metrics(run_dir / "metrics.jsonl")
    greedy = [row["greedy_success_rate"] for row in rows if isinstance(row.get("greedy_success_rate"), (int, float))]
    sampled = [row["success_rate"] for row in rows if isinstance(row.get("success_rate"), (int, float))]
    last = rows[-1] if rows else {}
    return {
        "last greedy success": greedy[-1] if greedy else None,
        "best greedy success": max(greedy) if greedy else None,
        "last sampled success": sampled[-1] if sampled else None,
        "env steps": last.get("env_steps"),
        "train seconds": last.get("elapsed"),
    }


def write_seeds_report(run_dirs: list[Path], output: Path) -> Path:
    """One page for several runs of one recipe: per run its seed and final numbers, their mean and
    standard error over the runs (sample standard deviation / sqrt(runs)), the greedy and sampled
    success curves side by side, and each run's settings hash. Runs whose settings differ in more
    than seed, name and output folder are named in a warning on the page."""
    for run_dir in run_dirs:
        if not (run_dir / "metrics.jsonl").is_file():
            raise FileNotFoundError(f"{run_dir} has no metrics.jsonl; vldac report takes run folders written by vldac train.")
    configs = [yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
               for run_dir in run_dirs]
    numbers = [final_numbers(run_dir) for run_dir in run_dirs]
    columns = list(numbers[0])
    header = "<tr><th>run</th><th>seed</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "<th>recipe sha256</th></tr>"
    body = []
    for run_dir, config, row in zip(run_dirs, configs, numbers):
        block = run_provenance(run_dir) or {}
        cells = "".join(f"<td>{_number(row[c])}</td>" for c in columns)
        body.append(f"<tr><td>{html.escape(run_dir.name)}</td><td>{html.escape(str(config.get('seed')))}</td>{cells}"
                    f"<td><code>{html.escape(str(block.get('recipe_sha256', '-'))[:12])}</code></td></tr>")
    summary = []
    for column in columns:
        values = [row[column] for row in numbers if row[column] is not None]
        summary.append(f"<td>{mean_and_standard_error(values)}</td>")
    body.append(f"<tr class='mean'><th>mean &plusmn; s.e.</th><td>{len(run_dirs)} runs</td>{''.join(summary)}<td></td></tr>")
    stripped = [{key: value for key, value in config.items() if key not in SEED_ONLY_KEYS} for config in configs]
    differing = [run_dir.name for run_dir, config in zip(run_dirs[1:], stripped[1:]) if config != stripped[0]]
    warning = (f"<p class='error'>Settings other than the seed differ from {html.escape(run_dirs[0].name)}'s in: "
               f"{html.escape(', '.join(differing))}; the mean mixes recipes.</p>") if differing else ""
    sections = [
        f"<h1>vldac: {len(run_dirs)} runs side by side</h1>", warning,
        f"<h2>Final numbers over training seeds</h2><table class='summary seeds'>{header}{''.join(body)}</table>",
        side_by_side_curves(run_dirs),
    ]
    page = PAGE.format(title=html.escape(f"vldac report: {len(run_dirs)} runs"), style=STYLE, body="\n".join(sections))
    output.write_text(page)
    return output


def mean_and_standard_error(values: list[float]) -> str:
    """The cell "mean ± standard error" over runs (sample standard deviation), "-" with no value."""
    if not values:
        return "-"
    error = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return f"{float(np.mean(values)):.3f} &plusmn; {error:.3f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def side_by_side_curves(run_dirs: list[Path]) -> str:
    """Greedy validation and sampled training success of every run, one line per run."""
    plt = pyplot()
    figures = []
    for metric, title in CURVES[:2]:
        figure, axis = plt.subplots(figsize=(5.2, 3.0), dpi=100)
        for run_dir in run_dirs:
            rows, _ = read_metrics(run_dir / "metrics.jsonl")
            points = [(row["env_steps"], row[metric]) for row in rows if isinstance(row.get(metric), (int, float))]
            if points:
                axis.plot(*zip(*points), "-", linewidth=1.3, label=run_dir.name)
        axis.set_xlabel("environment steps")
        axis.set_title(title, fontsize=10)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figures.append(figure_html(figure, metric, title))
    return "<h2>Learning curves</h2><div class='curves'>" + "".join(figures) + "</div>"


def read_json(path: Path) -> dict | None:
    """A JSON file's object, or None when it is unreadable (shown as such on the page)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def read_metrics(path: Path) -> tuple[list[dict], int]:
    """The rows of metrics.jsonl, and how many lines were unreadable (a line being written, or cut
    off by a kill, is left out)."""
    rows, unreadable = [], 0
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            unreadable += 1
    return rows, unreadable


def summary_section(summary: dict | None, rows: list[dict]) -> str:
    items = []
    if summary is None:
        items.append(("status", "no readable summary.json: the run is still going or was stopped "
                                "(resume it with vldac train --resume)"))
    else:
        items += [(key.replace("_", " "), str(value)) for key, value in summary.items()]
    last = rows[-1] if rows else {}
    for key, title in (("success_rate", "last success rate"), ("invalid_rate", "last invalid rate")):
        if isinstance(last.get(key), (int, float)):
            items.append((title, f"{last[key]:.3f}"))
    greedy = [(row["update"], row["greedy_success_rate"]) for row in rows if row.get("greedy_success_rate") is not None]
    if greedy:
        update, best = max(greedy, key=lambda pair: pair[1])
        items.append(("last greedy validation success", f"{greedy[-1][1]:.3f} (update {greedy[-1][0]})"))
        items.append(("best greedy validation success", f"{best:.3f} (update {update})"))
    for key, title in (("skipped_steps", "optimiser steps skipped (non-finite)"), ("world_restarts", "world restarts"),
                       ("nonfinite_rewards", "non-finite rewards clipped")):
        total = last.get(key) if key != "skipped_steps" else sum(row.get(key) or 0 for row in rows)
        if total:
            items.append((title, str(total)))
    cells = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in items)
    return f"<h2>Summary</h2><table class='summary'>{cells}</table>"


def pyplot():
    """matplotlib's pyplot on the file-only backend (one sentence when matplotlib is missing)."""
    try:
        import matplotlib
    except ImportError as error:
        raise ReportUnavailable("vldac report draws its curves with matplotlib: pip install 'vldac[plot]'.") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_html(figure, metric: str, title: str) -> str:
    """A figure as an embedded PNG in an element with id ``curve-<metric>`` (closes the figure)."""
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png")
    pyplot().close(figure)
    encoded = base64.b64encode(image.getvalue()).decode("ascii")
    return (f"<figure class='curve' id='curve-{metric}'><img alt='{html.escape(title)}' "
            f"src='data:image/png;base64,{encoded}'><figcaption>{html.escape(metric)}</figcaption></figure>")


def curves_section(rows: list[dict]) -> str:
    plt = pyplot()
    figures, empty = [], []
    for metric, title in CURVES:
        points = [(row["env_steps"], row[metric]) for row in rows
                  if isinstance(row.get(metric), (int, float)) and not isinstance(row.get(metric), bool)
                  and math.isfinite(row[metric])]
        if not points:
            empty.append(metric)
            continue
        figure, axis = plt.subplots(figsize=(3.9, 2.5), dpi=100)
        steps, values = zip(*points)
        axis.plot(steps, values, "o-" if len(points) < 30 else "-", markersize=3, linewidth=1.4)
        spread = [(row["env_steps"], row[metric], row[f"{metric}_stderr"]) for row in rows
                  if isinstance(row.get(metric), (int, float)) and isinstance(row.get(f"{metric}_stderr"), (int, float))]
        if spread:
            at, middle, error = np.array(spread).T
            axis.fill_between(at, middle - error, middle + error, alpha=0.25, linewidth=0)
        axis.set_xlabel("environment steps")
        axis.set_title(title, fontsize=10)
        if metric.endswith("success_rate") or metric in ("invalid_rate", "clip_fraction"):
            axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        figures.append(figure_html(figure, metric, title))
    missing = (f"<p class='missing'>no number logged yet: {html.escape(', '.join(empty))} (success and return "
               "need finished episodes; greedy success needs train.eval_every).</p>") if empty else ""
    return "<h2>Learning curves</h2><div class='curves'>" + "".join(figures) + "</div>" + missing


def bench_section(rows: list[dict], warm_start: dict | None) -> str:
    """A curve per transfer benchmark score (``bench/<suite>/<environment>``, train.bench_every)
    with its standard-error bars, the warm start at 0 env steps, next to the training success."""
    scores = sorted({key for row in rows for key in row if key.startswith("bench/") and not key.endswith("_stderr")})
    if not scores:
        return ""
    plt = pyplot()
    warm = (warm_start or {}).get("scores", {})
    figures = []
    for key in scores:
        points = [(0, warm[key], warm.get(f"{key}_stderr", 0.0))] if key in warm else []
        points += [(row["env_steps"], row[key], row.get(f"{key}_stderr") or 0.0) for row in rows
                   if isinstance(row.get(key), (int, float))]
        figure, axis = plt.subplots(figsize=(3.9, 2.5), dpi=100)
        steps, values, errors = zip(*points)
        axis.errorbar(steps, values, yerr=errors, fmt="o-", markersize=3, linewidth=1.4, capsize=2, label=key)
        success = [(row["env_steps"], 100 * row["success_rate"]) for row in rows
                   if isinstance(row.get("success_rate"), (int, float))]
        if success:
            axis.plot(*zip(*success), "-", color="#999", linewidth=1, label="training success x100")
        axis.set_xlabel("environment steps")
        axis.set_title(key.removeprefix("bench/"), fontsize=10)
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        figures.append(figure_html(figure, key.replace("/", "-"), key))
    return ("<h2>Transfer benchmarks</h2><p>Each score x100 with its standard error, the warm start at 0 env steps, "
            "the training success beside it.</p><div class='curves'>" + "".join(figures) + "</div>")


def trajectories_section(paths: list[Path]) -> str:
    if not paths:
        return ("<h2>Trajectories</h2><p>None saved: the trainer saves a few at each checkpoint when "
                "train.log_trajectories &gt; 0.</p>")
    shown = paths if len(paths) <= MAX_LOGGED_UPDATES else [
        paths[round(i * (len(paths) - 1) / (MAX_LOGGED_UPDATES - 1))] for i in range(MAX_LOGGED_UPDATES)
    ]
    note = "" if len(shown) == len(paths) else f" ({len(shown)} of {len(paths)} logged updates shown)"
    legend = ("<p>Each row is one environment's rollout in that update, oldest step first; a step shows the "
              "frames the model saw (oldest first), its thoughts and action, the reward and the critic's value. "
              "<span class='badge invalid'>invalid</span> answers took no action.</p>")
    parts = [f"<h2>Trajectories{note}</h2>", legend]
    for position, path in enumerate(shown):
        document = read_json(path)
        try:
            parts.append(logged_update(document, is_open=position == len(shown) - 1))
        except (KeyError, TypeError, ValueError, IndexError):
            parts.append(f"<p class='missing'>{html.escape(path.name)} is unreadable and was left out.</p>")
    return "\n".join(parts)


def logged_update(document: dict, is_open: bool) -> str:
    """One logged update's trajectories (raises KeyError / TypeError / ValueError on a file that
    is not the trainer's)."""
    parts = [f"<details{' open' if is_open else ''}><summary>update {int(document['update'])} "
             f"&middot; {int(document['env_steps']):,} env steps</summary>"]
    for episode in document["episodes"]:
        parts.append(f"<div class='episode'><div class='episode-title'>env {int(episode['env'])}</div><div class='steps'>")
        parts += [step_card(step, document["images"]) for step in episode["steps"]]
        parts.append("</div></div>")
    parts.append("</details>")
    return "".join(parts)


def step_card(step: dict, images: list[str]) -> str:
    frames = "".join(f"<img class='trajectory-frame' alt='frame' src='data:image/png;base64,{images[index]}'>"
                     for index in step["frames"])
    badges = []
    if step["invalid"]:
        badges.append(f"<span class='badge invalid' title='{html.escape(step.get('error') or '')}'>invalid</span>")
    if step["terminated"]:
        badges.append("<span class='badge ended'>episode ended</span>")
    elif step["truncated"]:
        badges.append("<span class='badge ended'>truncated</span>")
    value = "-" if step["value"] is None else f"{step['value']:+.3f}"
    action = html.escape(step["action"]) if step["action"] is not None else "&mdash;"
    why = f"<div class='error'>{html.escape(step['error'])}</div>" if step["invalid"] and step.get("error") else ""
    return (
        f"<div class='step{' is-invalid' if step['invalid'] else ''}'><div class='frames'>{frames}</div>"
        f"<div class='action'>action: <b>{action}</b> {''.join(badges)}</div>"
        f"<div class='numbers'>reward {step['reward']:+.2f} &middot; value {value}</div>"
        f"<div class='thoughts'>{html.escape(step['thoughts'] or '')}</div>{why}"
        f"<details class='raw'><summary>answer and observation</summary><pre>{html.escape(step['answer'])}</pre>"
        f"<pre>{html.escape(step['observation'])}</pre></details></div>"
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style></head>
<body>
{body}
</body></html>
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table.summary th { text-align: left; padding-right: 1.5rem; font-weight: 600; }
table.seeds td, table.seeds th { padding: .1rem .6rem; }
tr.mean { border-top: 1px solid #999; font-weight: 600; }
.curves { display: flex; flex-wrap: wrap; gap: .5rem; }
figure.curve { margin: 0; }
.missing { color: #777; font-size: 13px; }
figure.curve figcaption { font: 11px monospace; color: #777; text-align: center; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
.episode { margin: .6rem 0 1rem; }
.episode-title { font-weight: 600; margin-bottom: .3rem; }
.steps { display: flex; gap: .5rem; overflow-x: auto; padding-bottom: .4rem; }
.step { flex: 0 0 190px; border: 1px solid #ccc; border-radius: 6px; padding: .4rem; font-size: 12px; }
.step.is-invalid { border-color: #c62828; background: #fff5f5; }
.frames { display: flex; gap: 2px; }
img.trajectory-frame { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #999; }
.badge { border-radius: 3px; padding: 0 .3rem; font-size: 11px; color: white; background: #555; }
.badge.invalid { background: #c62828; }
.thoughts { color: #444; margin-top: .2rem; }
.error { color: #c62828; }
details.raw summary { font-weight: normal; color: #777; font-size: 11px; }
pre { white-space: pre-wrap; word-break: break-word; font-size: 11px; background: #f6f6f6; padding: .3rem; }
"""
