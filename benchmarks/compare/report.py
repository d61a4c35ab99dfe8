"""Writing the results: a Markdown table, a JSON file and a PNG chart."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from benchmarks.compare.measure import Cell


def _fmt(x: float | None, digits: int = 2) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _short(tool: str) -> str:
    return tool.split(" (")[0].replace(" + decode loop", " loop").replace(" POS_MSEC + read", "")


def summary(cells: list[Cell], video: str) -> str:
    """One row a task on `video`, one column a tool: stillframe's seconds, the
    others' wall relative to it, and how many of their frames were right."""
    rows = [c for c in cells if c.video == video]
    tools = [t for t in dict.fromkeys(_short(c.tool) for c in rows) if not t.startswith("stillframe")]
    lines = ["| task | stillframe | " + " | ".join(tools) + " |", "| --- | ---: |" + " ---: |" * len(tools)]
    for key in dict.fromkeys((c.task, c.mode) for c in rows):
        group = [c for c in rows if (c.task, c.mode) == key]
        sf = next((c for c in group if c.tool.startswith("stillframe")), None)
        if sf is None or not sf.wall:
            continue
        out = [
            f"{key[0]}{' [keyframe]' if key[1] == 'keyframe' else ''}",
            f"{sf.wall:.2f} s ({sf.right}/{sf.requested})",
        ]
        for tool in tools:
            c = next((x for x in group if _short(x.tool) == tool), None)
            if c is None:
                out.append("")
            elif c.error:
                out.append(f"> {c.cutoff / sf.wall:.1f}x" if c.cutoff else "failed")
            else:
                out.append(f"{c.wall / sf.wall:.2f}x ({c.right}/{c.requested})" if c.wall else "")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def markdown(header: str, cells: list[Cell], unavailable: dict[str, str], main_video: str | None = None) -> str:
    lines = [header, ""]
    if main_video:
        lines += [
            f"Summary, {main_video}: stillframe's wall time (frames right), and each peer's wall time "
            "relative to it (frames right by its own rule; '> Nx': cut off).",
            "",
            summary(cells, main_video),
        ]
    if unavailable:
        lines += ["Not run here: " + "; ".join(f"{k} ({v})" for k, v in unavailable.items()) + ".", ""]
    base = {(c.video, c.task, c.mode): c.wall for c in cells if c.tool.startswith("stillframe") and c.wall}
    video = None
    for c in cells:
        if c.video != video:
            video = c.video
            lines += [
                "",
                f"### {video}",
                "",
                "| task | mode | tool | wall s | vs stillframe | in-process s | CPU s | peak RSS MB | "
                "frames decoded | right | shown at t / next after t | mean error s |",
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
        b = base.get((c.video, c.task, c.mode))
        if c.error:
            ratio = f"> {c.cutoff / b:.1f}x" if c.cutoff and b else ""
            lines.append(f"| {c.task} | {c.mode} | {c.tool} | {c.error} | {ratio} | | | | | | | |")
            continue
        ratio = f"{c.wall / b:.2f}x" if b and c.wall else ""
        inproc = sorted(c.inproc)[len(c.inproc) // 2] if c.inproc else None
        cpu = sorted(c.cpus)[len(c.cpus) // 2] if c.cpus else None
        right = f"{c.right}/{c.requested}" + ("" if c.got == c.requested else f" (got {c.got})")
        if c.upright is not None and c.upright < c.got:
            right += f", {c.got - c.upright} not rotated"
        lines.append(
            f"| {c.task} | {c.mode} | {c.tool} | {_fmt(c.wall)} | {ratio} | {_fmt(inproc)} | {_fmt(cpu)} | "
            f"{c.rss_mb:.0f} | {'' if c.decoded is None else c.decoded} | {right} | {c.displayed} / {c.next} | "
            f"{_fmt(c.mean_error, 3)} |"
        )
    return "\n".join(lines) + "\n"


def write_json(path: Path, header: str, cells: list[Cell], unavailable: dict[str, str]) -> None:
    rows = [asdict(c) | {"wall": c.wall, "right": c.right} for c in cells]
    path.write_text(json.dumps({"header": header, "unavailable": unavailable, "cells": rows}, indent=1))


def chart(path: Path, cells: list[Cell], main_video: str) -> None:
    """Wall time of every tool on every task of the main clip, relative to stillframe
    (log scale); wrong answers hatched."""
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is not installed (pip install '.[bench]')")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in cells if c.video == main_video]
    tasks = list(dict.fromkeys(f"{c.task} [{c.mode}]" for c in rows))
    tools = list(dict.fromkeys(c.tool for c in rows if not c.tool.startswith("stillframe sprite")))
    base = {f"{c.task} [{c.mode}]": c.wall for c in rows if c.tool.startswith("stillframe") and c.wall}
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(tasks) * len(tools) / 3 + 2))
    height = 0.8 / max(1, len(tools))
    for j, tool in enumerate(tools):
        for i, task in enumerate(tasks):
            c = next(
                (
                    x
                    for x in rows
                    if f"{x.task} [{x.mode}]" == task
                    and (x.tool == tool or (tool == "stillframe" and x.tool.startswith("stillframe")))
                ),
                None,
            )
            if c is None or not c.wall or not base.get(task):
                continue
            wrong = c.right < c.requested
            ax.barh(
                i + j * height,
                c.wall / base[task],
                height,
                color=f"C{j}",
                hatch="//" if wrong else None,
                label=tool if i == 0 or not ax.get_legend_handles_labels()[1].count(tool) else None,
            )
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(tasks))], tasks)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("wall time relative to stillframe (log; hatched: some frames wrong)")
    ax.set_title(main_video)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
