"""The cheap probes beside the transfer curve: layer similarity (similarity.json) and linear probes.

One figure per study that has either: AnB / BnB and probe top-1 vs k on the left axis, CKA(A,B) and
the same-half reference CKA(B,B') vs layer on the right; and in report.md a table per layer and the
rank correlation across k between BnB - AnB (what frozen transfer loses) and 1 - CKA(A,B) (how
dissimilar the bases are), with n, an exact permutation p-value and what it does and does not show.
"""

import itertools
import json
import math
import statistics
from pathlib import Path

from transfer_lab.report.figures import draw, new_figure, on_imagenet, paper_line, save_figure, series_cells
from transfer_lab.report.findings import pp
from transfer_lab.report.records import Study, study_keys
from transfer_lab.report.words import runs_words, schedule_words, study_title
from transfer_lab.run.record import SIMILARITY_FILE
from transfer_lab.spec import NUM_LAYERS

PROBE = "probeAnB"
CKA_STYLE = {
    "cka": ("tab:purple", "CKA(A,B): base A vs base B, same images"),
    "cka_reference": ("tab:gray", "CKA(B,B'): two seeds of base B (same task, BnB's role)"),
}
EXACT_PERMUTATIONS_UP_TO = 8  # n! orderings: 40,320 at n = 8


def collect_similarity(folders: list[Path]) -> list[dict]:
    return [json.loads(path.read_text()) for folder in folders for path in sorted(Path(folder).rglob(SIMILARITY_FILE))]


def layer_names(similarity: list[dict]) -> list[str]:
    """The network's layer names, as the similarity records hold them (blank without one)."""
    return similarity[0]["layers"] if similarity else [""] * NUM_LAYERS


def cka_by_layer(records: list[dict], field: str) -> dict[int, dict]:
    """Per layer 1..8: mean, std (None for one record), n and the values over the study's similarity runs."""
    cells = {}
    for layer in range(1, NUM_LAYERS + 1):
        values = [r[field][layer - 1] for r in records]
        cells[layer] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values),
            "values": values,
        }
    return cells


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    for _, tied in itertools.groupby(enumerate(order), key=lambda pair: values[pair[1]]):
        tied = list(tied)
        for _position, index in tied:
            result[index] = (tied[0][0] + tied[-1][0]) / 2 + 1
    return result


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    scale = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / scale if scale else float("nan")


def permutation_p(x: list[float], y: list[float]) -> float | None:
    """Two-sided exact p-value of Spearman's rho: the share of all orderings of y with |rho| as large."""
    if len(x) > EXACT_PERMUTATIONS_UP_TO:
        return None
    observed = abs(spearman(x, y))
    orderings = list(itertools.permutations(y))
    return sum(abs(spearman(x, list(p))) >= observed - 1e-12 for p in orderings) / len(orderings)


def similarity_figure(study: Study, similarity: list[dict], path: Path) -> None:
    fig, ax = new_figure(height=5.5)
    right = ax.twinx()
    for series, legend, offset in (
        ("BnB", "BnB: selffer, frozen", -0.1),
        ("AnB", "AnB: transfer, frozen", 0.0),
        (PROBE, "linear probe on layer k of base A, trained on B", 0.1),
    ):
        cells = series_cells(study, series)
        if cells:
            draw(ax, cells, series, legend, offset)
    if on_imagenet(study):
        paper_line(ax, "random", "AnB", range(1, 8), "paper, ImageNet AnB (Fig. 2; grey)")
    if similarity:
        for field, (color, label) in CKA_STYLE.items():
            cells = cka_by_layer(similarity, field)
            layers = sorted(cells)
            right.plot(layers, [cells[k]["mean"] for k in layers], color=color, linestyle=":", marker="s", markersize=5)
            right.errorbar(
                layers,
                [cells[k]["mean"] for k in layers],
                yerr=[cells[k]["std"] or 0 for k in layers],
                fmt="none",
                ecolor=color,
                elinewidth=1,
                capsize=2,
            )
            ax.plot([], [], color=color, linestyle=":", marker="s", markersize=5, label=f"{label} (right axis)")
        right.set_ylim(0, 1.05)
        right.set_ylabel("linear CKA (1 = same representation up to rotation and scale)")
    ax.set_xticks(range(1, NUM_LAYERS + 1), [f"{k}\n{name}" for k, name in enumerate(layer_names(similarity), 1)])
    ax.set_xlabel("layer k (transfers and probes: layers 1..k from the base network)")
    ax.set_ylabel("top-1 on half B (%)")
    runs = f"{runs_words(study)} · " if study.cells else ""
    detail = f"{runs}{len(similarity)} similarity run(s) · {schedule_words(study.runs)}"
    save_figure(
        fig,
        path,
        "How general is layer k? Transfer, linear probe and layer similarity",
        study_title(study.key, study.differs_words),
        detail,
        ax,
    )


def correlation_lines(study: Study, similarity: list[dict]) -> list[str]:
    """The rank correlation across k of BnB - AnB with 1 - CKA(A,B), and what it does and does not show."""
    anb, bnb = means(study, "AnB"), means(study, "BnB")
    cka = cka_by_layer(similarity, "cka") if similarity else {}
    ks = sorted(k for k in anb if k in bnb and k in cka)
    if len(ks) < 3:
        return [
            "Rank correlation of BnB - AnB with 1 - CKA(A,B): needs AnB, BnB and a similarity run at 3 or more k "
            f"(here {len(ks)}): run +exp=grid and +exp=similarity for this study.",
            "",
        ]
    loss = [bnb[k] - anb[k] for k in ks]
    dissimilarity = [1 - cka[k]["mean"] for k in ks]
    rho, p = spearman(loss, dissimilarity), permutation_p(loss, dissimilarity)
    p_text = f", exact permutation p = {p:.3f} (two-sided)" if p is not None else ""
    return [
        f"**Rank correlation across k between BnB - AnB and 1 - CKA(A,B): Spearman rho = {rho:+.2f}, n = {len(ks)} "
        f"(k = {ks[0]}..{ks[-1]}; means over {min(cka[k]['n'] for k in ks)} similarity run(s) and "
        f"{runs_words(study)}){p_text}.**",
        "",
        "What it shows: whether the layers at which the two bases' representations part (CKA, measured from the two "
        "base networks alone, in seconds) are the layers at which frozen transfer loses accuracy against the "
        "selffer (measured by training 14 networks per seed). What it does not show: that dissimilarity causes the "
        "loss, nor how large the loss is (ranks only); both curves change with depth, so any two quantities that "
        "trend with depth correlate across k; the n points are layers of the same few networks, not independent "
        "samples, and the paper's second cause of the drop, co-adapted layers split apart (its BnB dip at k = 3-5), "
        "is not what CKA between A and B measures.",
        "",
    ]


def layer_table(study: Study, similarity: list[dict]) -> list[str]:
    cka = {field: cka_by_layer(similarity, field) for field in CKA_STYLE} if similarity else {}
    anb, bnb, probe = means(study, "AnB"), means(study, "BnB"), means(study, PROBE)

    def cell(value, std=None, points=False):
        if value is None:
            return ""
        if points:
            return pp(value)
        return f"{value:.3f}" + (f" ± {std:.3f}" if std is not None else "")

    lines = ["| layer k | CKA(A,B) | CKA(B,B') | probe top-1 | AnB top-1 | BnB top-1 | BnB - AnB |", "|---" * 7 + "|"]
    for k, name in enumerate(layer_names(similarity), 1):
        ab, ref = (cka[f].get(k) if cka else None for f in CKA_STYLE)
        lines.append(
            f"| {k} {name} | {cell(ab and ab['mean'], ab and ab['std'])} | "
            f"{cell(ref and ref['mean'], ref and ref['std'])} | "
            f"{cell(probe.get(k))} | {cell(anb.get(k))} | {cell(bnb.get(k))} | "
            f"{cell(bnb[k] - anb[k] if k in anb and k in bnb else None, points=True)} |"
        )
    return lines + [""]


def means(study: Study, series: str) -> dict[int, float]:
    return {k: cell.mean for k, cell in study.series(series).items()}


def similarity_markdown(folders: list[Path], studies: dict, out: Path) -> list[str]:
    """Figure and report.md section of every study with similarity runs or probes; [] when there are none."""
    similarity = collect_similarity(folders)
    of_record = study_keys(similarity)
    keys = sorted(set(of_record) | {key for key, study in studies.items() if study.series(PROBE)}, key=str)
    lines = []
    for key in keys:
        study = studies.get(key) or Study(key, [])
        records = [r for r, of in zip(similarity, of_record) if of == key]
        figure = "similarity" if len(keys) == 1 else f"similarity-{study.key.wandb_group}"
        similarity_figure(study, records, out / figure)
        example = records[0] if records else {}
        lines += [
            f"## Layer similarity and linear probes: {study.name}",
            "",
            f"{study_title(key, study.differs_words)}. CKA: {len(records)} similarity run(s) (seeds "
            f"{', '.join(str(r['seed']) for r in records) or 'none'}), "
            f"{example.get('n_images', '?')} validation images "
            f"of both halves in batches of {example.get('batch_size', '?')}; "
            f"estimator: {example.get('estimator', 'n/a')}; "
            f"conv maps {example.get('conv_maps', 'n/a')}. Probes: one linear classifier on layer k of base A "
            "(frozen, pooled), trained on half B. CKA cells: mean ± std over the similarity runs; "
            "top-1 cells: means over seeds (their spread: the tables above and the figure).",
            "",
        ]
        lines += layer_table(study, records)
        lines += [f"![layer similarity {study.name}]({figure}.png)", ""]
        lines += correlation_lines(study, records)
    return lines
