"""``vldac report RUN_DIR``: one self-contained HTML page explaining a run.

The page holds the resolved config, the summary, a learning curve per logged metric (matplotlib
PNGs embedded as data URIs, each in an element with id ``curve-<metric>``) and a viewer of the
trajectories the trainer saved (``train.log_trajectories``): each step's frames (class
``trajectory-frame``), the model's thoughts and action, reward and value, invalid answers marked.
Nothing is fetched from the network when the page is opened; it needs no script.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

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
        trajectories_section(sorted((run_dir / "trajectories").glob(TRAJECTORY_FILES))),
        f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>",
    ]
    page = PAGE.format(title=html.escape(f"vldac report: {run_dir.name}"), style=STYLE, body="\n".join(sections))
    output = output or run_dir / "report.html"
    output.write_text(page)
    return output


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


def curves_section(rows: list[dict]) -> str:
    try:
        import matplotlib
    except ImportError as error:
        raise ReportUnavailable("vldac report draws its curves with matplotlib: pip install 'vldac[plot]'.") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        axis.set_xlabel("environment steps")
        axis.set_title(title, fontsize=10)
        if metric.endswith("success_rate") or metric in ("invalid_rate", "clip_fraction"):
            axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        figure.tight_layout()
        image = io.BytesIO()
        figure.savefig(image, format="png")
        plt.close(figure)
        encoded = base64.b64encode(image.getvalue()).decode("ascii")
        figures.append(
            f"<figure class='curve' id='curve-{metric}'><img alt='{html.escape(title)}' "
            f"src='data:image/png;base64,{encoded}'><figcaption>{html.escape(metric)}</figcaption></figure>"
        )
    missing = (f"<p class='missing'>no number logged yet: {html.escape(', '.join(empty))} (success and return "
               "need finished episodes; greedy success needs train.eval_every).</p>") if empty else ""
    return "<h2>Learning curves</h2><div class='curves'>" + "".join(figures) + "</div>" + missing


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
