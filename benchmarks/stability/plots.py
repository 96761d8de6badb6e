"""The two pictures: one clip's timeline, and the sweep's trade-off."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.stability.figures import FPS, TARGETS, Recorded
from benchmarks.stability.footage import PASSER_S


def plot_timeline(path: Path, rec: Recorded, run: dict[str, Any], labels: Sequence[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge.overlay import COLORS

    def rgb(label: str) -> tuple[float, float, float]:
        b, g, r = COLORS.get(label, (150, 150, 150))
        return (r / 255, g / 255, b / 255)

    times = np.array(rec.times)
    fig, (ax_raw, ax_p, ax_m) = plt.subplots(3, 1, figsize=(9, 5.6), sharex=True,
                                             gridspec_kw={"height_ratios": [2.2, 2.6, 0.7]})
    rows = {label: i for i, label in enumerate(labels)}
    for label in labels:
        ts = [t for t, top in zip(times, rec.main_top) if top == label]
        ax_raw.scatter(ts, [rows[label]] * len(ts), s=6, color=rgb(label), marker="|", linewidths=1.2)
    lost = [t for t, top in zip(times, rec.main_top) if top is None]
    ax_raw.scatter(lost, [-1] * len(lost), s=6, color="k", marker="|")
    ax_raw.set_yticks([-1, *rows.values()], ["(no face)", *labels], fontsize=7)
    ax_raw.set_ylim(-1.7, len(labels) - 0.3)
    ax_raw.set_title(title, fontsize=9)
    ax_raw.set_ylabel("raw top-1\nper frame", fontsize=8)
    probs = run["probs"]
    for j, label in enumerate(labels):
        ax_p.plot(times, probs[:, j], color=rgb(label), lw=1.1, label=label)
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("smoothed room\nprobabilities", fontsize=8)
    ax_p.legend(fontsize=6.5, ncol=7, loc="upper center", bbox_to_anchor=(0.5, 1.13), frameon=False)
    # the reported mood as a band, the events as ticks
    per_frame = run["labels"]
    start = 0
    for i in range(1, len(per_frame) + 1):
        if i == len(per_frame) or per_frame[i] != per_frame[start]:
            end = times[i] if i < len(per_frame) else times[-1] + 1 / FPS
            ax_m.axvspan(times[start], end, color=rgb(per_frame[start]), alpha=0.9, lw=0)
            if end - times[start] > 1.5:
                ax_m.text((times[start] + end) / 2, 0.5, per_frame[start], ha="center", va="center", fontsize=7)
            start = i
    for t, _label in run["events"]:
        for ax in (ax_raw, ax_p, ax_m):
            ax.axvline(t, color="k", lw=0.8, ls="--")
    if rec.spec["kind"] == "change":
        for ax in (ax_raw, ax_p, ax_m):
            ax.axvline(rec.spec["seconds"][0], color="r", lw=1.0, alpha=0.6)
    for a, b in rec.spec.get("hidden", []):
        ax_raw.axvspan(a, b, color="0.8", lw=0)
    if rec.spec.get("passer"):
        ax_raw.axvspan(rec.spec["passer_at"], rec.spec["passer_at"] + PASSER_S, color="y", alpha=0.15, lw=0)
    ax_m.set_yticks([])
    ax_m.set_ylabel("mood", fontsize=8)
    ax_m.set_xlabel("frame time (s); dashed: mood events" + ("; red: the real change" if rec.spec["kind"] == "change"
                                                              else ""), fontsize=8)
    for ax in (ax_raw, ax_p, ax_m):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_tradeoff(path: Path, sweep: list[dict[str, Any]], shipped: dict[str, Any], raw: float) -> None:
    """Flips per minute against median switch time, one point per grid setting; a panel per margin
    (columns) and not-sure pair min_confidence / tie_margin (rows); colour: hold, marker: half-life,
    hollow: p90 over target; the shipped setting ringed in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    margins = sorted({s["margin"] for s in sweep})
    confs = sorted({(s.get("min_confidence", shipped["min_confidence"]), s.get("tie_margin", shipped["tie_margin"]))
                    for s in sweep}, reverse=True)
    holds = sorted({s["hold"] for s in sweep})
    halves = sorted({s["half_life"] for s in sweep})
    cmap = plt.get_cmap("viridis", len(holds))
    markers = "os^Dv<>p*h"
    fig, axes = plt.subplots(len(confs), len(margins), figsize=(2.2 * len(margins) + 1.4, 1.9 * len(confs) + 0.7),
                             sharex=True, sharey=True, squeeze=False)
    finite = [s["switch_median_s"] for s in sweep if math.isfinite(s["switch_median_s"])]
    xmax = max(finite + [TARGETS["switch_median_s"] + 1]) * 1.05
    ymax = max([s["flips_per_min"] for s in sweep] + [TARGETS["flips_per_min"] * 2]) * 1.1
    for r, conf in enumerate(confs):
        for c, margin in enumerate(margins):
            ax = axes[r, c]
            ax.add_patch(plt.Rectangle((0, -1), TARGETS["switch_median_s"], TARGETS["flips_per_min"] + 1,
                                       color="g", alpha=0.1, lw=0))
            for s in sweep:
                if s["margin"] != margin or (s.get("min_confidence", shipped["min_confidence"]),
                                             s.get("tie_margin", shipped["tie_margin"])) != conf:
                    continue
                ok = s["switch_p90_s"] <= TARGETS["switch_p90_s"]
                color = cmap(holds.index(s["hold"]))
                x = s["switch_median_s"] if math.isfinite(s["switch_median_s"]) else xmax * 0.98
                ax.scatter(x, s["flips_per_min"], marker=markers[halves.index(s["half_life"]) % len(markers)], s=22,
                           facecolor=color if ok else "none", edgecolor=color, linewidths=1)
            if (abs(shipped["margin"] - margin) < 1e-9 and abs(shipped["min_confidence"] - conf[0]) < 1e-9
                    and abs(shipped["tie_margin"] - conf[1]) < 1e-9):
                ax.scatter(shipped["switch_median_s"], shipped["flips_per_min"], s=150, facecolor="none",
                           edgecolor="r", linewidths=1.5)
            ax.set_xlim(0, xmax)
            ax.set_ylim(-0.05 * ymax, ymax)
            ax.tick_params(labelsize=6.5)
            if r == 0:
                ax.set_title(f"margin {margin:g}", fontsize=8)
            if c == len(margins) - 1:
                ax.yaxis.set_label_position("right")
                ax.set_ylabel(f"min_conf {conf[0]:g}\ntie_margin {conf[1]:g}", fontsize=7)
            if r == len(confs) - 1:
                ax.set_xlabel("median switch time (s)", fontsize=7.5)
    fig.text(0.01, 0.5, f"mood changes per minute on constant clips (raw per-frame top-1: {raw:.0f} / min)",
             rotation=90, va="center", fontsize=7.5)
    hold_handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i), label=f"hold {h:g} s")
                    for i, h in enumerate(holds)]
    half_handles = [plt.Line2D([], [], marker=markers[i % len(markers)], ls="", color="0.4", label=f"half-life {h:g} s")
                    for i, h in enumerate(halves)]
    extra = [plt.Line2D([], [], marker="o", ls="", mfc="none", color="0.4", label="p90 > 4 s"),
             plt.Line2D([], [], marker="o", ls="", mfc="none", ms=11, color="r", label="shipped")]
    fig.legend(handles=hold_handles + half_handles + extra, fontsize=6.5, loc="center right", frameon=False)
    fig.suptitle("Flicker against speed across the mood filter's settings (green: the targets)", fontsize=9)
    fig.tight_layout(rect=(0.02, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def timeline_clip(recs: Sequence[Recorded], scored: Sequence[Recorded], name: str = "") -> Recorded | None:
    """The clip to draw: ``name``, else the scored change clip with the most raw flicker."""
    from benchmarks.stability.figures import count_changes

    picked = next((r for r in recs if r.spec["name"] == name), None) if name else None
    if picked is None:
        candidates = [r for r in scored if r.spec["kind"] == "change"] or list(scored)
        picked = max(candidates, key=lambda r: count_changes(r.main_top)) if candidates else None
    return picked


def draw(out: Path, pick: Recorded | None, sweep: Sequence[dict[str, Any]], shipped_cfg: Any,
         shipped: dict[str, Any], labels: Sequence[str]) -> None:
    """Both pictures into ``out``: the timeline of ``pick`` and the sweep's trade-off."""
    import dataclasses

    from benchmarks.stability.figures import replay

    if pick is not None:
        plot_timeline(out / "stability_timeline.png", pick, replay(pick, shipped_cfg, labels, keep_probs=True), labels,
                      f"{pick.spec['name']} with the shipped defaults (half_life {shipped_cfg.half_life:g} s, "
                      f"hold {shipped_cfg.hold:g} s, margin {shipped_cfg.margin:g})")
    if sweep:
        plot_tradeoff(out / "stability_tradeoff.png", list(sweep),
                      {**dataclasses.asdict(shipped_cfg), **shipped}, shipped["raw_changes_per_min"])
