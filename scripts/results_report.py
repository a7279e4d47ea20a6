#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds docs/results.md from the JSON summaries and CSV rows that scripts/reproduce
wrote: per K and split, the bytes and in-parallel steps each policy needed to reach the
target accuracy, and plots.

usage: scripts/results_report.py RESULTS_DIR OUT.md PLOT_DIR
"""
import csv
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def label(run, p):
    name = p["policy"].split("+")[0]
    if run["server_opt"] != "mean":
        name = f"{name}+{run['server_opt']}(η={run['server_lr']:g})"
    if p["theta"]:
        name += f" θ={p['theta']}"
    return name


def family(lbl):
    if lbl.startswith("linear") or lbl.startswith("sketch"):
        return lbl.split(" ")[0] + (" adaptive" if "adaptive" in lbl else " fixed θ")
    if "fedadam" in lbl:
        return "fedadam"
    return lbl


def human(b):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} B"


def main() -> int:
    src, out_md, plot_dir = sys.argv[1:4]
    os.makedirs(plot_dir, exist_ok=True)
    table = {}  # (k, split) -> list of (label, policy json)
    target = None
    for path in sorted(glob.glob(os.path.join(src, "*.json"))):
        with open(path) as f:
            run = json.load(f)
        target = run["target_accuracy"]
        for p in run["policies"]:
            table.setdefault((run["workers"], run["partition"]), []).append((label(run, p), p))
    if not table:
        print("results_report.py: no JSON summaries in " + src, file=sys.stderr)
        return 1

    lines = []
    splits = sorted({s for _, s in table})
    ks = sorted({k for k, _ in table})
    best = {}  # (split, family) -> {k: bytes}
    for split in splits:
        lines.append(f"\n### Split `{split}`\n")
        for k in ks:
            rows = table.get((k, split))
            if not rows:
                continue
            lines.append(f"\n**K = {k}** — to reach test accuracy {target}:\n")
            lines.append("| policy | reached | bytes | in-parallel steps | syncs | final accuracy |")
            lines.append("|---|---|---|---|---|---|")
            for lbl, p in sorted(rows, key=lambda r: (r[1]["to_target"] is None,
                                                       (r[1]["to_target"] or {}).get("total_bytes", 0))):
                t = p["to_target"]
                if t:
                    lines.append(f"| {lbl} | epoch {t['epoch']} | {human(t['total_bytes'])} | {t['steps']} | "
                                 f"{t['syncs']} | {p['test_accuracy']:.4f} |")
                    fam = family(lbl)
                    cur = best.setdefault((split, fam), {})
                    cur[k] = min(cur.get(k, float("inf")), t["total_bytes"])
                else:
                    lines.append(f"| {lbl} | never | — | — | {p['syncs']} | {p['test_accuracy']:.4f} |")

    # Plot: bytes to target against K, one line per family, one panel per split.
    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 4.5), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for (s, fam), by_k in sorted(best.items()):
            if s != split:
                continue
            xs = sorted(by_k)
            ax.plot(xs, [by_k[x] for x in xs], marker="o", label=fam)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("workers K")
        ax.set_ylabel(f"bytes to reach {target} (best setting)")
        ax.set_title(split)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    bytes_png = os.path.join(plot_dir, "bytes_to_target.png")
    fig.savefig(bytes_png, dpi=110)

    # Accuracy curves for each split at the middle K, from the CSV rows.
    curves = []
    for split in splits:
        k = ks[len(ks) // 2]
        tag = f"K{k}_" + split.replace(":", "_").replace(".", "_")
        csvs = sorted(glob.glob(os.path.join(src, tag + ".*.csv")))
        if not csvs:
            continue
        merged = os.path.join(plot_dir, f"{tag}.csv")
        with open(merged, "w", newline="") as out:
            writer = None
            for path in csvs:
                with open(path) as f:
                    reader = csv.DictReader(f)
                    if writer is None:
                        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
                        writer.writeheader()
                    # fda-train labels rows by policy; name the server optimizer too.
                    variant = os.path.basename(path).split(".")[1]
                    for row in reader:
                        if variant.startswith("fedadam_"):
                            row["policy"] += "+fedadam η=" + variant.split("_", 1)[1]
                        writer.writerow(row)
        png = os.path.join(plot_dir, f"{tag}.png")
        os.system(f"{sys.executable} {os.path.join(os.path.dirname(__file__), 'plot.py')} {merged} {png} "
                  f"'K = {k}, {split}'")
        curves.append((split, k, png))

    md_dir = os.path.dirname(out_md)
    with open(out_md.replace(".md", ".tables.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(plot_dir, "index.txt"), "w") as f:
        f.write(os.path.relpath(bytes_png, md_dir) + "\n")
        for split, k, png in curves:
            f.write(os.path.relpath(png, md_dir) + "\n")
    print(f"tables in {out_md.replace('.md', '.tables.md')}, plots in {plot_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
