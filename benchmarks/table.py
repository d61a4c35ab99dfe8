"""Render a pytest-benchmark JSON file as a Markdown table, with each row's median
as a ratio to stillframe's one-thread median in the same group.

    python -m benchmarks.table jpeg.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def render(data: dict) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    machine = data.get("machine_info", {})
    lines = [
        f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} CPUs, Python {machine.get('python_version', '?')}; "
        f"{data.get('datetime', '')[:10]}",
        "",
        "| group | tool | median ms | frames/s | vs stillframe 1 thread |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for group, benches in groups.items():
        base = next((b for b in benches if "1-thread" in b["name"]), benches[0])
        for b in sorted(benches, key=lambda b: b["stats"]["median"]):
            tool = b["params"]["tool"] if b.get("params") else b["name"]
            median = b["stats"]["median"]
            frames = b.get("extra_info", {}).get("frames", 0)
            lines.append(
                f"| {group} | {tool} | {median * 1000:.1f} | {frames / median:.0f} | "
                f"{median / base['stats']['median']:.2f}x time |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(render(json.load(f)))
