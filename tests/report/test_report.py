"""The report on hand-written result records with known numbers."""

import csv
import json
from pathlib import Path

import pytest

from transfer_lab.report import main, write_report

STUDY = {"dataset": "animalfashion", "split": "random", "model": "alexnet_small", "recipe": "embedded"}


def record(folder: Path, name: str, series: str, k: int, top1: float, **extra) -> None:
    run = folder / name
    run.mkdir(parents=True)
    fields = {**STUDY, "series": series, "k": k, "val_top1": top1, "status": "completed", "seed": 0, "split_seed": 0}
    (run / "result.json").write_text(json.dumps(fields | extra))


def paper_like_study(folder: Path, seeds=(0, 1), spread: float = 0.002, anb7: bool = True) -> None:
    """Base B at 0.65, AnB falling with k, BnB dipping at k=4, AnB+ above base; each point's seeds
    `spread` apart (seed s adds s * spread)."""
    for seed in seeds:
        shift = seed * spread
        record(folder, f"bB{seed}", "baseB", 0, 0.65 + shift, seed=seed)
        record(folder, f"bA{seed}", "baseA", 0, 0.64 + shift, seed=seed)
        for k in range(1, 8):
            if k < 7 or anb7:
                record(folder, f"anb{k}-{seed}", "AnB", k, 0.66 - 0.02 * (k - 1) + shift, seed=seed)
            record(folder, f"bnb{k}-{seed}", "BnB", k, (0.55 if k == 4 else 0.65) + shift, seed=seed)
            record(folder, f"anbp{k}-{seed}", "AnB+", k, 0.70 + shift, seed=seed)
            record(folder, f"bnbp{k}-{seed}", "BnB+", k, 0.66 + shift, seed=seed)


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_summary_has_the_known_means_stds_and_counts(tmp_path):
    paper_like_study(tmp_path / "runs", spread=0.1)
    write_report([tmp_path / "runs"], tmp_path / "report")
    summary = {(r["series"], int(r["k"])): r for r in read_csv(tmp_path / "report" / "summary.csv")}
    assert float(summary[("baseB", 0)]["mean"]) == pytest.approx(0.70)
    assert float(summary[("baseB", 0)]["std"]) == pytest.approx(0.0707107, rel=1e-4)
    assert int(summary[("baseB", 0)]["n"]) == 2
    assert float(summary[("AnB", 7)]["mean"]) == pytest.approx(0.59)
    assert len(read_csv(tmp_path / "report" / "results.csv")) == 2 * (2 + 4 * 7)
    for name in ("transfer.png", "transfer.pdf", "report.md"):
        assert (tmp_path / "report" / name).stat().st_size > 0


def test_with_several_seeds_cells_show_mean_std_and_findings_hold_beyond_the_spread(tmp_path):
    paper_like_study(tmp_path / "runs", seeds=(0, 1, 2))
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "| baseB | 0.6520 ± 0.0020 (3 seeds) |" in text
    # AnB+ 0.70 vs base 0.65 and vs BnB+ 0.66; every run of seed s is s * 0.2 pp up: paired, no spread is left
    assert "| 1-7 | +5.00 pp, 95% CI [+5.00, +5.00] pp | +4.00 pp, 95% CI [+4.00, +4.00] pp |" in text
    assert (
        "| Frozen AnB drops with k: AnB at k=7 more than 1 pp below k=1 | holds | AnB(1) - AnB(7) = +12.00 pp, "
        "95% CI [+12.00, +12.00] pp, n=3 (paired t, 2 df); threshold +1 pp |"
    ) in text
    assert "| BnB dips in the middle (co-adapted layers): BnB at k=3-6 more than 1 pp below k=1,2,7 | holds |" in text
    assert "BnB(1,2,7) - BnB(3..6) = +2.50 pp" in text  # 0.65 against (3 * 0.65 + 0.55) / 4
    assert "| Fine-tuned AnB+ above base B (the generalization boost): its mean over k above base B | holds |" in text
    assert "(indicative only" not in text and "seed=0,1,2" not in text and "Undecided" not in text
    assert "**BnB(1,2,7) - BnB(3..6)** = the mean of BnB at k=1, 2, 7 minus" in text  # the notation is spelled out
    assert "Student's t with n - 1 degrees of freedom (Student 1908)" in text and "(Welch 1947)" in text
    assert "Yosinski, Clune, Bengio and Lipson" in text and "NIPS 2014" in text


def test_an_interval_astride_the_threshold_is_undecided_with_the_seeds_that_would_decide_it(tmp_path):
    paper_like_study(tmp_path / "runs", seeds=(0, 1, 2), anb7=False)
    for seed, top1 in ((0, 0.50), (1, 0.55), (2, 0.60)):  # AnB at k=7: AnB(1) - AnB(7) 16, 11.2, 6.4 pp
        record(tmp_path / "runs", f"anb7-wide-{seed}", "AnB", 7, top1, seed=seed, n_classes=10, n_val_images=2000)
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    line = next(line for line in text.splitlines() if line.startswith("| Frozen AnB drops with k"))
    assert "| undecided (the interval contains the threshold; about " in line
    assert " seeds would decide it at this spread) |" in line
    assert "AnB(1) - AnB(7) = +11.20 pp, 95% CI [-0.72, +23.12] pp, n=3 (paired t, 2 df)" in line  # sd 4.8 pp
    assert "about 4 seeds would decide it" in line  # t(3) 4.8 / sqrt(4) = 7.6 pp < 11.2 - 1 pp
    assert "Undecided findings: about 4 seeds" in text and "python -m transfer_lab -m +exp=grid seed=0,1,2,3 " in text


def test_one_seed_has_no_plus_minus_and_its_verdicts_are_indicative_only(tmp_path):
    paper_like_study(tmp_path / "runs", seeds=(0,))
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "±" not in text.split("## ")[-1].split("![")[0]  # the study's table
    assert "| baseB | 0.6500 (1 seed) |" in text
    assert (
        "| Frozen AnB drops with k: AnB at k=7 more than 1 pp below k=1 | holds (indicative only: 1 seed) | "
        "AnB(1) - AnB(7) = +12.00 pp, n=1 (no interval: 1 seed); threshold +1 pp |"
    ) in text
    assert "python -m transfer_lab -m +exp=grid seed=0,1,2 model=alexnet_small recipe=embedded" in text


def test_findings_that_do_not_hold_are_reported_as_such(tmp_path):
    for seed in (0, 1):
        record(tmp_path / "runs", f"bB{seed}", "baseB", 0, 0.80 + 0.001 * seed, seed=seed)
        for k in range(1, 8):
            record(
                tmp_path / "runs", f"anb{k}-{seed}", "AnB", k, 0.60 + 0.001 * seed, seed=seed
            )  # flat, far below base
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "| Layers 1-2 transfer well: frozen AnB at k=1,2 within 1 pp of base B or above | does not hold |" in text
    assert "| Frozen AnB drops with k: AnB at k=7 more than 1 pp below k=1 | does not hold |" in text  # 0 pp, no spread
    assert (
        "| BnB dips in the middle (co-adapted layers): BnB at k=3-6 more than 1 pp below k=1,2,7 | not evaluable |"
        in text
    )


def test_networks_at_chance_are_flagged_and_their_findings_not_evaluable(tmp_path):
    """The ImageNet-shaped smoke grid: 500 classes, every network at 1/500."""
    at_chance = dict(dataset="imagenet", model="alexnet", recipe="paper", n_classes=500, n_val_images=1000)
    for seed in (0, 1):
        record(tmp_path / "runs", f"bB{seed}", "baseB", 0, 0.002, seed=seed, **at_chance)
        for k in range(1, 8):
            for series in ("AnB", "AnB+", "BnB"):
                record(tmp_path / "runs", f"{series}{k}-{seed}", series, k, 0.002, seed=seed, **at_chance)
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "**44 of 44 runs are at chance**" in text
    assert "0.0020 ± 0.0000 (2 seeds, 2 at chance)" in text
    verdicts = [
        line.split(" | ")[1]
        for line in text.splitlines()
        if line.startswith("| ")
        and " | " in line
        and ("Layers 1-2" in line or "drops with k:" in line or "dips" in line or "AnB+ above" in line)
    ]
    assert verdicts == ["not evaluable: networks at chance"] * 4
    assert "| holds" not in text and "| does not hold" not in text


def test_a_network_above_chance_is_not_flagged(tmp_path):
    paper_like_study(tmp_path / "runs", seeds=(0, 1))
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "at chance**" not in text and "(2 seeds, " not in text


def test_report_of_a_runs_folder_goes_where_the_sweep_puts_it(tmp_path, monkeypatch, capsys):
    """`python -m transfer_lab.report outputs/runs/animalfashion` -> outputs/reports/animalfashion-random/."""
    paper_like_study(tmp_path / "outputs" / "runs" / "animalfashion" / "random-s0")
    monkeypatch.chdir(tmp_path)
    main(["outputs/runs/animalfashion"])
    assert (tmp_path / "outputs" / "reports" / "animalfashion-random" / "report.md").exists()
    assert (
        capsys.readouterr().out.strip()
        == f"report: {tmp_path / 'outputs' / 'reports' / 'animalfashion-random' / 'report.md'}"
    )
    assert not (tmp_path / "outputs" / "runs" / "reports").exists()


def test_the_natman_study_is_reported_beside_random_and_drives_the_dissimilarity_finding(tmp_path):
    paper_like_study(tmp_path / "runs", seeds=(0,))
    natman = dict(STUDY, split="natman")
    for name, series, k, top1 in [("nA", "baseA", 0, 0.7), ("nB", "baseB", 0, 0.7)] + [
        (f"{s}{k}", s, k, 0.5) for s in ("AnB", "BnA") for k in range(1, 8)
    ]:
        record(tmp_path / "runs", f"natman-{name}", series, k, top1, **natman)
    out = tmp_path / "report"
    text = write_report([tmp_path / "runs"], out).read_text()
    assert (out / "natman.png").exists() and (out / "transfer.png").exists()
    assert (
        "| The dissimilar split drops more: natman transfer more than 1 pp further below its base than random AnB "
        "| holds (indicative only: 1 seed) |" in text
    )
    assert "2 studies" in text


def test_mixed_datasets_are_never_averaged_together(tmp_path):
    record(tmp_path / "runs", "a", "baseB", 0, 0.2)
    record(tmp_path / "runs", "b", "baseB", 0, 0.8, dataset="imagenet")
    write_report([tmp_path / "runs"], tmp_path / "report")
    rows = read_csv(tmp_path / "report" / "summary.csv")
    assert sorted((r["dataset"], float(r["mean"]), int(r["n"])) for r in rows) == [
        ("animalfashion", 0.2, 1),
        ("imagenet", 0.8, 1),
    ]


def test_imagenet_studies_show_the_papers_numbers(tmp_path):
    record(tmp_path / "runs", "a", "AnB", 7, 0.50, dataset="imagenet", model="alexnet", recipe="paper")
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "[paper 0.5425]" in text  # paper_results.csv: random, AnB, n=7


def test_failed_runs_are_listed_with_their_error(tmp_path):
    paper_like_study(tmp_path / "runs")
    failed = tmp_path / "runs" / "broken"
    failed.mkdir()
    (failed / "failed.json").write_text(
        json.dumps({**STUDY, "status": "failed", "series": "AnB", "k": 3, "error": "RuntimeError: boom"})
    )
    out = tmp_path / "report"
    text = write_report([tmp_path / "runs"], out).read_text()
    assert "RuntimeError: boom" in text and "1 failed" in text
    statuses = [r["status"] for r in read_csv(out / "results.csv")]
    assert statuses.count("failed") == 1


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.mkdir(), "no runs"),
        (
            lambda d: (d / "r").mkdir(parents=True) or (d / "r" / "result.json").write_text("{not json"),
            "not a readable JSON result",
        ),
    ],
)
def test_bad_report_input_is_one_clear_line(tmp_path, capsys, setup, message):
    folder = tmp_path / "runs"
    setup(folder)
    with pytest.raises(SystemExit) as exit_info:
        main([str(folder), "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "report").exists()


def scarcity_study(folder: Path) -> None:
    """Target B with 1 and 10 images per class and all (~800): scratch gains most from data, transfer helps
    most when data is scarce; the best frozen k moves from 3 (N=1) to 1 (N=10, all)."""
    for per_class, size, base, frozen, tuned in [
        (1, 1, 0.20, {1: 0.40, 3: 0.50}, {1: 0.45, 3: 0.55}),
        (10, 10, 0.50, {1: 0.60, 3: 0.58}, {1: 0.66, 3: 0.64}),
        (None, 800, 0.90, {1: 0.89, 3: 0.85}, {1: 0.92, 3: 0.91}),
    ]:
        extra = dict(target_per_class=per_class, target="B", n_train_images=size * 10, n_classes=10)
        tag = per_class or "all"
        for seed, shift in ((0, -0.01), (1, 0.01)):
            record(folder, f"b{tag}-{seed}", "baseB", 0, base + shift, **extra, seed=seed)
        for k in (1, 3):
            for seed in (0, 1):
                record(folder, f"f{tag}-{k}-{seed}", "AnB", k, frozen[k], **extra, seed=seed)
                record(folder, f"t{tag}-{k}-{seed}", "AnB+", k, tuned[k], **extra, seed=seed)


def test_the_scarcity_table_shows_each_treatment_at_its_best_k_per_n(tmp_path):
    scarcity_study(tmp_path / "runs")
    out = tmp_path / "report"
    text = write_report([tmp_path / "runs"], out).read_text()
    assert (out / "scarcity.png").stat().st_size > 0 and (out / "scarcity.pdf").exists()
    assert "| images per class | scratch | frozen, best k | fine-tuned, best k | fine-tuned - scratch |" in text
    for row in (
        "| 1 | 0.2000 ± 0.0141 (2 seeds) | 0.5000 ± 0.0000 (2 seeds), k=3 | 0.5500 ± 0.0000 (2 seeds), k=3 | "
        "+35.00 pp |",
        "| 10 | 0.5000 ± 0.0141 (2 seeds) | 0.6000 ± 0.0000 (2 seeds), k=1 | 0.6600 ± 0.0000 (2 seeds), k=1 | "
        "+16.00 pp |",
        "| all | 0.9000 ± 0.0141 (2 seeds) | 0.8900 ± 0.0000 (2 seeds), k=1 | 0.9200 ± 0.0000 (2 seeds), k=1 | "
        "+2.00 pp |",
    ):
        assert row in text
    # Each N is its own study: never averaged with the others.
    summary = {
        (r["target_per_class"], r["series"], int(r["k"])): float(r["mean"]) for r in read_csv(out / "summary.csv")
    }
    assert summary[("1", "baseB", 0)] == pytest.approx(0.20) and summary[("", "baseB", 0)] == pytest.approx(0.90)
    assert "## animalfashion-random-alexnet_small-embedded-n10" in text


def test_a_report_without_scarce_runs_has_no_scarcity_section(tmp_path):
    paper_like_study(tmp_path / "runs")
    out = tmp_path / "report"
    assert "Scarce targets" not in write_report([tmp_path / "runs"], out).read_text()
    assert not (out / "scarcity.png").exists()


def random_filters_study(folder: Path, **study) -> None:
    fields = dict(STUDY, split="all") | study
    record(folder, "normal", "baseA", 0, 0.58, **fields)
    for k, top1 in ((1, 0.50), (2, 0.40), (3, 0.01)):
        record(folder, f"random{k}", "randomA", k, top1, **fields)


def test_random_filters_are_drawn_and_tabled(tmp_path):
    random_filters_study(tmp_path / "runs")
    out = tmp_path / "report"
    text = write_report([tmp_path / "runs"], out).read_text()
    assert (out / "random_filters.png").stat().st_size > 0
    assert "| randomA |  | 0.5000 (1 seed) | 0.4000 (1 seed) | 0.0100 (1 seed) |" in text
    assert "[paper" not in text


def test_imagenet_random_filters_show_the_papers_numbers(tmp_path):
    random_filters_study(tmp_path / "runs", dataset="imagenet", model="alexnet", recipe="paper")
    text = write_report([tmp_path / "runs"], tmp_path / "report").read_text()
    assert "0.5800 (1 seed) [paper 0.5763]" in text  # the normal 1000-class network
    assert "0.4000 (1 seed) [paper 0.4026]" in text  # random_frozen, n=2
