"""The PNG next to latest.json: headline ratios against their targets, and latency percentiles of each run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on the bench machines

import matplotlib.pyplot as plt


def draw(report: dict[str, Any], path: Path) -> None:
    targets: dict[str, float] = {k: v for k, v in report["targets"].items() if k.endswith(("_direct", "_trivial",
                                                                                              "_flash"))}  # fmt: skip
    names = [name for name in targets if isinstance(report.get(name), float | int)]
    figure, (ratios, latencies) = plt.subplots(1, 2, figsize=(14, 5.5))

    values = [float(report[name]) for name in names]
    colours = ["tab:green" if report[name] >= targets[name] else "tab:orange" for name in names]
    ratios.barh(names, values, color=colours)
    ratios.scatter([targets[name] for name in names], names, marker="|", s=400, color="black", label="target")
    for y, value in enumerate(values):
        ratios.text(value, y, f" {value:.2f}", va="center")
    ratios.set_xlim(0, max([1.0, *values]) * 1.15)
    ratios.set_title("throughput ratios (same run, median of rounds)")
    ratios.legend(loc="lower right")
    ratios.invert_yaxis()

    rows: list[tuple[str, dict[str, float]]] = []
    for target, figures in report.get("gateway_orders", {}).items():
        rows.append((f"product GET {target}", figures))
    for variant, figures in report.get("flash", {}).items():
        rows.append((variant, figures))
    latency = report.get("flash_latency_at_70pct")
    if latency:
        rows.append((f"flash @ {latency['rate_rps']:.0f} rps (70%)", latency))
    labels = [name for name, _ in rows]
    positions = range(len(rows))
    latencies.barh([p - 0.2 for p in positions], [f["p50_ms"] for _, f in rows], height=0.4, label="p50")
    latencies.barh([p + 0.2 for p in positions], [f["p99_ms"] for _, f in rows], height=0.4, label="p99")
    latencies.set_yticks(list(positions), labels)
    latencies.set_xscale("log")
    latencies.axvline(report["targets"].get("flash_p99_ms_at_70pct", 50), color="black", linestyle=":",
                      label="p99 target at 70%")  # fmt: skip
    latencies.set_xlabel("ms (log)")
    latencies.set_title("latency percentiles")
    latencies.legend(loc="lower right")
    latencies.invert_yaxis()

    oversold = report.get("oversold")
    figure.suptitle(f"make bench {report['measured_at']}  oversold={oversold}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
