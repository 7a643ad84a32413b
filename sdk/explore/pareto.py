"""From point records to decisions: Pareto fronts, the best design, and the files a person reads.

Design parameters (target keys) are choices; noise settings are conditions. So a front is drawn per
condition (accuracy against energy, and against area), and a robust front over designs uses each design's
worst condition; the best design is the cheapest (energy per inference, then area) whose worst-case drop from
the int8 reference meets the goal. Area is in cells of the arrays the model occupies (rows x cols per array
used): a proxy that ranks macro shapes, not square millimetres.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cimconv import atomic
from cimsdk.explore import target_file

METRICS = ("score", "score_std", "drop_pp", "energy_uj", "latency_us", "arrays_used", "array_cells", "chip_cells",
           "utilization")


def dominates(a: tuple, b: tuple) -> bool:
    """a dominates b: no worse in every objective (all to minimise) and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def front(rows: list[dict], objectives: tuple[str, ...], maximise: tuple[str, ...] = ("score", "worst_score")
          ) -> list[int]:
    """Indices of the rows no other row dominates (keys in `maximise` are maximised, the rest minimised)."""
    vec = [tuple(-r[k] if k in maximise else r[k] for k in objectives) for r in rows]
    keep = [i for i, v in enumerate(vec) if not any(dominates(w, v) for j, w in enumerate(vec) if j != i)]
    return sorted(keep, key=lambda i: vec[i])


def condition_label(point: dict) -> str:
    parts = [f"{k[6:]}={v}" for k, v in point.items() if k.startswith("noise.")]
    return ", ".join(parts) or "target's noise preset"


def design_of(point: dict) -> dict:
    return {k: v for k, v in point.items() if not k.startswith("noise.")}


def aggregate(points: list[dict], records: dict[tuple[int, int], dict], n_models: int) -> list[dict]:
    """One row per point over its models: scores averaged, energy and latency summed (one inference of each
    model), arrays and area the largest (the chip must hold each model), utilization averaged."""
    rows = []
    for pi, pt in enumerate(points):
        recs = [records[pi, m] for m in range(n_models)]
        row: dict = {"index": pi, "params": pt, "condition": condition_label(pt), "design": design_of(pt),
                     "feasible": all(r["feasible"] for r in recs), "models": recs}
        if row["feasible"]:
            score = sum(r["score"] for r in recs) / n_models
            ref = sum(r["reference_score"] for r in recs) / n_models
            row.update({
                "score": score, "score_std": max(r["accuracy_std"] if r["accuracy_std"] is not None
                                                 else r["agreement_std"] for r in recs),
                "reference_score": ref, "drop_pp": 100 * (ref - score),
                "energy_uj": sum(r["energy_uj"] for r in recs), "latency_us": sum(r["latency_us"] for r in recs),
                "arrays_used": max(r["arrays_used"] for r in recs), "array_cells": max(r["array_cells"] for r in recs),
                "chip_cells": max(r["chip_cells"] for r in recs),
                "utilization": sum(r["utilization"] for r in recs) / n_models,
            })
        else:
            row["reason"] = next(r["reason"] for r in recs if not r["feasible"])
        rows.append(row)
    return rows


def designs(rows: list[dict]) -> list[dict]:
    """Points grouped by design: worst score over the conditions swept (a design must survive all)."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(json.dumps(r["design"], sort_keys=True), []).append(r)
    out = []
    for group in by.values():
        d: dict = {"design": group[0]["design"], "points": [r["index"] for r in group],
                   "feasible": all(r["feasible"] for r in group)}
        if d["feasible"]:
            worst = min(group, key=lambda r: r["score"])
            d.update({"worst_score": worst["score"], "worst_condition": worst["condition"],
                      "worst_drop_pp": max(r["drop_pp"] for r in group)})
            for k in ("energy_uj", "latency_us", "arrays_used", "array_cells", "chip_cells", "utilization"):
                d[k] = group[0][k]  # costs do not depend on the noise condition
        out.append(d)
    return out


def analyse(rows: list[dict], max_drop_pp: float | None, min_accuracy: float | None) -> dict:
    ok = [r for r in rows if r["feasible"]]
    conditions = sorted({r["condition"] for r in rows})
    per_condition = {}
    for c in conditions:
        cr = [r for r in ok if r["condition"] == c]
        per_condition[c] = {
            "accuracy_energy": [cr[i]["index"] for i in front(cr, ("score", "energy_uj"))],
            "accuracy_energy_area": [cr[i]["index"] for i in front(cr, ("score", "energy_uj", "array_cells"))],
        }
    ds = designs(rows)
    okd = [d for d in ds if d["feasible"]]
    robust = [okd[i] for i in front(okd, ("worst_score", "energy_uj"))]

    def meets(d: dict) -> bool:
        return ((max_drop_pp is None or d["worst_drop_pp"] <= max_drop_pp + 1e-9)
                and (min_accuracy is None or d["worst_score"] >= min_accuracy - 1e-12))

    goal = " and ".join(g for g in (f"worst-case drop <= {max_drop_pp} pp" if max_drop_pp is not None else "",
                                    f"worst-case accuracy >= {min_accuracy}" if min_accuracy is not None else "")
                        if g) or "none"
    per_condition_best = {}
    for c in conditions:  # if the chip is built for one condition only: its cheapest point meeting the goal
        cand = [r for r in ok if r["condition"] == c and meets({"worst_drop_pp": r["drop_pp"],
                                                                 "worst_score": r["score"]})]
        best_c = min(cand, key=lambda r: (r["energy_uj"], r["array_cells"], r["latency_us"])) if cand else None
        per_condition_best[c] = None if best_c is None else {
            "index": best_c["index"], "design": best_c["design"], "score": best_c["score"],
            "drop_pp": best_c["drop_pp"], "energy_uj": best_c["energy_uj"], "array_cells": best_c["array_cells"]}
    good = [d for d in okd if meets(d)]
    if good:
        best = min(good, key=lambda d: (d["energy_uj"], d["array_cells"], d["latency_us"]))
        why = (f"cheapest of {len(good)} design(s) meeting {goal}: {best['energy_uj']:.3f} uJ/inference, "
               f"worst-case drop {best['worst_drop_pp']:.2f} pp ({best['worst_condition']})")
    elif okd:
        best = max(okd, key=lambda d: (d["worst_score"], -d["energy_uj"]))
        why = (f"no design meets {goal}; the most accurate in its worst condition: drop "
               f"{best['worst_drop_pp']:.2f} pp, {best['energy_uj']:.3f} uJ/inference")
    else:
        best, why = None, "no design converts and simulates"
    return {"goal": goal, "per_condition": per_condition, "best_per_condition": per_condition_best,
            "designs": ds, "robust_front": robust,
            "best": best, "best_meets_goal": bool(good), "why": why, "feasible_points": len(ok),
            "points": len(rows)}


def _flat(row: dict, param_names: list[str]) -> dict:
    out = {"index": row["index"], "condition": row["condition"], "feasible": row["feasible"]}
    out.update({p: row["params"].get(p, "") for p in param_names})
    out.update({k: row.get(k, "") for k in METRICS})
    out["reason"] = row.get("reason", "")
    return out


def csv_text(rows: list[dict], param_names: list[str], extra: dict[int, str] | None = None) -> str:
    buf = io.StringIO()
    fields = ["index", "condition", "feasible", *param_names, *METRICS, "reason"] + (["front"] if extra else [])
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        flat = _flat(r, param_names)
        if extra is not None:
            flat["front"] = extra.get(r["index"], "")
        w.writerow(flat)
    return buf.getvalue()


def plot(rows: list[dict], result: dict, path: Path, title: str) -> None:
    """Accuracy against energy and against area, one colour per condition, fronts as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_index = {r["index"]: r for r in rows}
    for ci, (cond, fr) in enumerate(result["per_condition"].items()):
        col = colours[ci % len(colours)]
        pts = [r for r in rows if r["feasible"] and r["condition"] == cond]
        for ax, xkey in ((axs[0], "energy_uj"), (axs[1], "array_cells")):
            ax.errorbar([r[xkey] for r in pts], [100 * r["score"] for r in pts],
                        yerr=[100 * r["score_std"] for r in pts], fmt="o", ms=4, alpha=0.45, color=col, capsize=2)
        f = [by_index[i] for i in fr["accuracy_energy"]]
        f.sort(key=lambda r: r["energy_uj"])
        axs[0].step([r["energy_uj"] for r in f], [100 * r["score"] for r in f], "-", where="post", color=col,
                    lw=1.8, label=f"{cond} (front)")
        fa = [pts[i] for i in front(pts, ("score", "array_cells"))] if pts else []
        fa.sort(key=lambda r: r["array_cells"])
        axs[1].step([r["array_cells"] for r in fa], [100 * r["score"] for r in fa], "-", where="post", color=col,
                    lw=1.8, label=cond)
        bc = result.get("best_per_condition", {}).get(cond)
        if bc is not None:
            axs[0].plot([bc["energy_uj"]], [100 * bc["score"]], "D", ms=9, mfc="none", mec=col, mew=2,
                        label=f"cheapest meeting the goal, {cond}")
    best = result.get("best")
    if best is not None:
        for ax, xkey in ((axs[0], "energy_uj"), (axs[1], "array_cells")):
            ax.plot([best[xkey]], [100 * best["worst_score"]], "*", ms=16, color="black", zorder=5,
                    label="best design (worst case)")
    ref = next((r["reference_score"] for r in rows if r["feasible"]), None)
    for ax in axs:
        if ref is not None:
            ax.axhline(100 * ref, color="grey", ls=":", lw=1, label="int8 reference")
        ax.set_ylabel("top-1 accuracy (%), mean over chips")
        ax.grid(alpha=0.3)
    axs[0].set_xlabel("energy per inference (uJ, energy model)")
    axs[1].set_xlabel("area proxy: cells in the arrays used (millions)")
    axs[1].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:g}"))
    axs[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())


def write_outputs(out: Path, rows: list[dict], result: dict, meta: dict, param_names: list[str],
                  base_target_text: str, base_target_name: str) -> list[Path]:
    """points.json/.csv, pareto.json/.csv, pareto.png and best_target.toml under `out` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    files = []

    def put(name: str, text: str) -> None:
        atomic.write_text(out / name, text)
        files.append(out / name)

    put("points.json", json.dumps({**meta, "points": rows}, indent=1, default=float) + "\n")
    put("points.csv", csv_text(rows, param_names))
    on_front: dict[int, str] = {}
    for cond, fr in result["per_condition"].items():
        for i in fr["accuracy_energy"]:
            on_front[i] = f"accuracy-energy, {cond}"
    put("pareto.json", json.dumps({**meta, **result}, indent=1, default=float) + "\n")
    put("pareto.csv", csv_text([r for r in rows if r["index"] in on_front], param_names, on_front))
    plot(rows, result, out / "pareto.png", meta.get("title", "design-space exploration"))
    files.append(out / "pareto.png")
    best = result.get("best")
    if best is not None:
        header = (f"# best design of `cimsdk explore` ({result['why']})\n"
                  f"# changed from {base_target_name}: "
                  + ", ".join(f"{k} = {target_file.toml_value(v)}" for k, v in best["design"].items()))
        put("best_target.toml", target_file.render(base_target_text, best["design"], header=header))
    per = result.get("best_per_condition", {})
    for cond, bc in per.items() if len(per) > 1 else ():
        if bc is not None:
            slug = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in cond.split("=", 1)[-1] if ch != " ")
            header = (f"# cheapest design of `cimsdk explore` meeting {result['goal'].replace('worst-case ', '')} "
                      f"when built for {cond} only ({100 * bc['score']:.1f}%, {bc['energy_uj']:.3f} uJ/inference)\n"
                      f"# changed from {base_target_name}: "
                      + ", ".join(f"{k} = {target_file.toml_value(v)}" for k, v in bc["design"].items()))
            put(f"best_target.{slug}.toml", target_file.render(base_target_text, bc["design"], header=header))
    return files
