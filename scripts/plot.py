#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Plots fda-train's CSV: test accuracy against total bytes (log scale) and against
in-parallel steps, one line per policy (and θ, and K when several are present).

usage: scripts/plot.py RESULTS.csv OUT.png [TITLE]
"""
import csv
import sys
import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    several_k = len({r["workers"] for r in rows}) > 1
    # A run is a sequence of rows of one policy whose epochs count up; an adaptive Θ
    # changes from row to row, a fixed one does not.
    runs = []
    for r in rows:
        if not r["test_accuracy"]:
            continue
        last = runs[-1][-1] if runs else None
        if last is None or last["policy"] != r["policy"] or int(r["epoch"]) <= int(last["epoch"]) \
                or last["workers"] != r["workers"]:
            runs.append([])
        runs[-1].append(r)
    rows_by_line = {}
    for line in runs:
        thetas = {r["theta"] for r in line}
        label = line[0]["policy"]
        if thetas != {""}:
            label += f" θ={line[0]['theta']}" if len(thetas) == 1 else " θ adaptive"
        if several_k:
            label += f" K={line[0]['workers']}"
        while label in rows_by_line:
            label += "'"
        rows_by_line[label] = line
    if not rows_by_line:
        print("plot.py: no rows with a test accuracy", file=sys.stderr)
        return 1

    fig, (by_bytes, by_steps) = plt.subplots(1, 2, figsize=(13, 5))
    for label, line in sorted(rows_by_line.items()):
        acc = [float(r["test_accuracy"]) for r in line]
        by_bytes.plot([max(1, int(r["total_bytes"])) for r in line], acc, marker="o", ms=3, label=label)
        by_steps.plot([int(r["steps"]) for r in line], acc, marker="o", ms=3, label=label)
    by_bytes.set_xscale("log")
    by_bytes.set_xlabel("bytes communicated (cost model: monitoring + syncs)")
    by_steps.set_xlabel("in-parallel steps")
    for ax in (by_bytes, by_steps):
        ax.set_ylabel("test accuracy of the averaged model")
        ax.grid(True, which="both", alpha=0.3)
    by_bytes.legend(fontsize=8)
    fig.suptitle(sys.argv[3] if len(sys.argv) > 3 else "fda-train: accuracy vs communication and steps")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"plot written to {sys.argv[2]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
