"""What ``vldac bench`` prints: a table per suite (per group and subgroup: score and standard error,
count; overall; with a base model, its scores and the paired differences) and one JSON object."""

from __future__ import annotations

from vldac.bench.scoring import BALROG_LAYOUT, Layout, Result, paired_differences, summarize


def suite_report(suite: str, model: str, results: list[Result], settings: dict, layout: Layout = BALROG_LAYOUT,
                 base: str | None = None, base_results: list[Result] | None = None) -> dict:
    """The JSON object of one suite: ``layout.groups`` (each with score, stderr, the count, for
    episodes steps and invalid_rate, and its subgroups), ``overall``, the settings; with a base,
    ``base`` (its scores) and ``difference`` (paired)."""
    report = {"suite": suite, "model": model, **summarize(results, layout), "settings": settings}
    if base is not None:
        report["base"] = {"model": base, **summarize(base_results, layout)}
        report["difference"] = paired_differences(results, base_results, layout)
    return report


def _cell(score: float, stderr: float) -> str:
    return f"{score:6.2f} ± {stderr:5.2f}"


def print_table(report: dict, layout: Layout = BALROG_LAYOUT) -> None:
    """A plain-text table on stdout."""
    base = report.get("base")
    difference = report.get("difference")
    header = f"{layout.groups[:-1] + ' / ' + layout.subgroups[:-1]:40s} {'score':>15s} {layout.count:>8s}" + (f" {'steps':>7s}" if layout.episodes else "")
    if base:
        header += f" {'base':>15s} {'difference':>15s}"
    print(f"{report['suite']}: {report['model']}" + (f" (base: {base['model']})" if base else ""))
    print(header)
    print("-" * len(header))
    for name, scores in report[layout.groups].items():
        base_group = base[layout.groups].get(name, {}) if base else {}
        difference_group = difference[layout.groups].get(name, {}) if base else {}
        rows = [(name, scores, base_group, difference_group)]
        rows += [(f"  {subgroup}", subgroup_scores, base_group.get(layout.subgroups, {}).get(subgroup),
                  difference_group.get(layout.subgroups, {}).get(subgroup))
                 for subgroup, subgroup_scores in scores[layout.subgroups].items()
                 if list(scores[layout.subgroups]) != [name]]  # a group that is its one subgroup prints once
        for label, row, base_row, difference_row in rows:
            line = f"{label:40s} {_cell(row['score'], row['stderr']):>15s} {row[layout.count]:8d}"
            if layout.episodes:
                line += f" {row['steps']:7d}"
            if base:
                line += f" {_cell(base_row['score'], base_row['stderr']) if base_row else '':>15s}"
                line += f" {_cell(difference_row['difference'], difference_row['stderr']) if difference_row else '':>15s}"
            print(line)
    line = f"{'overall':40s} {_cell(report['overall']['score'], report['overall']['stderr']):>15s}"
    if base:
        line += f" {'':>8s}" + (f" {'':>7s}" if layout.episodes else "")
        line += f" {_cell(base['overall']['score'], base['overall']['stderr']):>15s}"
        line += f" {_cell(difference['overall']['difference'], difference['overall']['stderr']):>15s}"
    print(line)
