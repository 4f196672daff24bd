"""Screening benchmark: ldnscreen's simulation side by side with ASReview's.

For every dataset in a folder (``record_id,title,abstract,label_included
[,label_abstract_screening,keywords...]``, or any file ``ldnscreen simulate``
reads: CSV, TSV, XLSX, RIS, MEDLINE, PubMed XML; a file it cannot read, or a
label level with no relevant record left after the priors, is skipped with the
reason printed), every label level present and
every seed, the same prior records (drawn by :func:`ldnscreen.simulate.draw_priors`
from the seed) are given to ldnscreen and, with ``--peer asreview``, to
``asreview simulate`` (see ``benchmarks/asreview_runner.py``). Both orders are
scored by :mod:`ldnscreen.metrics` (priors excluded); every run is appended
to ``runs.csv`` in the output folder as soon as it finishes, and a rerun with
the same ``--out`` skips the runs already there. Every run's screening order
(dataset row numbers and labels, priors first) goes to ``orders.jsonl``, so
any run can be re-scored or plotted from the input file alone. One table is
printed at the end (and written to ``table.md``): mean ± sd over seeds per
dataset, label and tool, with the ratios ldnscreen / ASReview (first
``--peer-model``) for WSS@95 and wall time, and overall the mean and median
difference and a Wilcoxon signed-rank test over datasets. Pictures go beside
it: ``wss95_<label>.png`` (every run's WSS@95) and ``recall_<label>.png``
(every run's recall curve, per dataset). With a ``--model-name`` other than
``default`` these file names end in ``_<model-name>`` (``table_cw100.md``), so
runs of several configurations into one folder keep each one's table.

Examples::

    nice -n 10 .venv/bin/python benchmarks/screening.py --quick
    nice -n 10 .venv/bin/python benchmarks/screening.py --peer asreview \\
        --peer-model elas_u4 --labels label_included --seeds 5 --out benchmarks/.work/full

Wall time of ldnscreen is measured in process (features + active-learning
loop); ASReview's over the same span in its own process (``Simulate.review()``:
feature extraction + loop, timed by ``asreview_driver.py``; its start-up,
data loading and project writing are left out, see
``asreview_runner.run_asreview``).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ldnscreen._compiled import kernels as compiled_kernels  # noqa: E402
from ldnscreen.corpora import shared_dir  # noqa: E402

DEFAULT_DATA = (shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"  # ($LDNSCREEN_SHARED first)
LABELS = ("label_included", "label_abstract_screening")
METRICS = ("wss_95", "wss_100", "rrf_10", "rrf_25", "atd", "loss", "records_to_95_recall")
FIELDS = ["dataset", "label", "seed", "tool", "model", "n_records", "n_relevant", "n_priors",
          "prior_rows", *METRICS, "wall_seconds", "cpu_seconds", "peak_memory_mb", "n_screened"]
#: Labelled files the benchmark reads from --data-dir (any format ``ldnscreen simulate`` reads).
DATA_SUFFIXES = (".csv", ".tsv", ".xlsx", ".ris", ".nbib", ".xml")
QUICK_DATASETS = ("cohen2006_antihistamines", "cohen2006_urinaryincontinence", "cohen2006_nsaids")


def _parse_seeds(text: str) -> list[int]:
    if "," in text or "-" in text.strip("-"):
        seeds: list[int] = []
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                seeds += list(range(int(a), int(b) + 1))
            elif part:
                seeds.append(int(part))
        return seeds
    return list(range(int(text)))


def _batch(text: str):
    return text if text == "auto" else int(text)


def build_learner(params: dict | None):
    """An ActiveLearner from ``{"features": {...}, "classifier": {...}, "learner": {...}}``."""
    if not params:
        return None
    from ldnscreen.features import TextFeatures
    from ldnscreen.rankers import ActiveLearner, InclusionClassifier

    features = TextFeatures(**params["features"]) if "features" in params else None
    classifier_params = dict(params.get("classifier", {}))
    if isinstance(classifier_params.get("class_weight"), dict):  # JSON keys are strings
        classifier_params["class_weight"] = {int(k): float(v) for k, v in classifier_params["class_weight"].items()}
    classifier = InclusionClassifier(**classifier_params) if "classifier" in params else None
    if "logistic_regression" in params:  # a plain sklearn LogisticRegression, e.g. to try dual/tol
        from sklearn.linear_model import LogisticRegression

        lr_params = dict(params["logistic_regression"])
        if isinstance(lr_params.get("class_weight"), dict):
            lr_params["class_weight"] = {int(k): float(v) for k, v in lr_params["class_weight"].items()}
        classifier = LogisticRegression(**lr_params)
    return ActiveLearner(features=features, classifier=classifier, **params.get("learner", {}))


def run_key(run) -> tuple:
    """A run's identity, from its runs.csv row or its orders.jsonl line (the seed a cell or a number)."""
    return (run["dataset"], run["label"], int(run["seed"]), run["tool"], run["model"])


def read_done(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {run_key(r) for r in csv.DictReader(f)}


def append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def append_order(path: Path, key: dict, rows: list[int], labels: list[int], n_priors: int) -> None:
    """Append one run's screening order to ``orders.jsonl``: row numbers in the dataset (0-based,
    among the records that have the label), their labels, priors first."""
    line = {**key, "n_priors": n_priors, "rows": [int(i) for i in rows], "labels": [int(v) for v in labels]}
    with open(path, "a") as f:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")


def write_orders(path: Path, orders: list[dict]) -> None:
    """Write ``orders.jsonl`` whole, as :func:`append_order` writes each line (atomically: a kill leaves
    the old file or the new one)."""
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w") as f:
        f.writelines(json.dumps(o, separators=(",", ":")) + "\n" for o in orders)
    tmp.replace(path)


def drop_unfinished_orders(path: Path, done: set[tuple]) -> None:
    """Keep only the orders of runs that ``runs.csv`` records as done (a run killed between writing its
    order and its row is run again, and would otherwise leave its order twice; a half-written last
    line goes too)."""
    if not path.exists():
        return
    kept = [o for o in read_orders(path) if run_key(o) in done]
    if len(kept) < len(path.read_text().splitlines()):
        write_orders(path, kept)


def read_orders(path: Path) -> list[dict]:
    """The runs of ``orders.jsonl`` (the last line of a run killed while writing is skipped)."""
    if not path.exists():
        return []
    orders = []
    with open(path) as f:
        for line in f:
            try:
                orders.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return orders


def peer_rows(records, label: str, with_keywords: bool) -> list[dict]:
    rows = []
    for r in records:
        abstract = r.abstract or ""
        if with_keywords and r.keywords:
            abstract = f"{abstract} {'; '.join(r.keywords)}".strip()
        rows.append({"title": r.title, "abstract": abstract, label: r.labels[label]})
    return rows


def run_benchmark(args) -> Path:
    from dataclasses import replace

    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sklearn.utils import check_random_state

    from ldnscreen.io import ReadError
    from ldnscreen.metrics import screening_metrics
    from ldnscreen.simulate import draw_priors, load_labelled_records, simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.csv"
    orders_path = out / "orders.jsonl"  # written before runs.csv's row, which marks a run done
    done = read_done(runs_path)
    drop_unfinished_orders(orders_path, done)
    learner_params = json.loads(args.learner) if args.learner else None
    learner = build_learner(learner_params)
    # (whether ldnscreen ran its compiled inner loops: the numpy fallback is slower on small reviews)
    settings = {**vars(args), "ldnscreen_compiled": compiled_kernels is not None}
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str))

    console = Console(stderr=True)
    listed = sorted(p for p in Path(args.data_dir).iterdir() if p.is_file() and not p.name.startswith("."))
    files = [p for p in listed if p.suffix.lower() in DATA_SUFFIXES and p.name != "MANIFEST.csv"]
    others = [p.name for p in listed if p not in files and p.name != "MANIFEST.csv"]
    if others:
        console.print(f"[yellow]not read (not {', '.join(DATA_SUFFIXES)}): {', '.join(others)}", highlight=False)
    stems: dict[str, str] = {}
    for p in files:  # a dataset is named by its file's stem in runs.csv, orders.jsonl and --datasets
        if p.stem in stems:
            raise SystemExit(f"{args.data_dir}: {stems[p.stem]} and {p.name} would both be dataset {p.stem!r}; "
                             "rename one")
        stems[p.stem] = p.name
    wanted = set(args.datasets.split(",")) if args.datasets else (set(QUICK_DATASETS) if args.quick else None)
    if wanted:
        missing = sorted(wanted - set(stems))
        if missing:
            console.print(f"[yellow]no file for dataset(s) {', '.join(missing)} in {args.data_dir}", highlight=False)
        files = [p for p in files if p.stem in wanted]
    seeds = _parse_seeds(args.seeds)
    labels = args.labels.split(",")
    models = args.peer_model.split(",") if args.peer else []

    jobs = []
    for path in files:
        try:
            records = load_labelled_records(path)
        except (ReadError, ValueError) as exc:  # one unreadable file does not stop the others
            console.print(f"[yellow]skipped {path.name}: {exc}", highlight=False)
            continue
        if args.no_keywords:  # title and abstract only, for both tools (as most exports without MeSH)
            records = [replace(r, keywords=()) for r in records]
        for label in labels:
            subset = [r for r in records if label in r.labels]
            if not subset:
                console.print(f"[yellow]skipped {path.name} {label}: no record has that label", highlight=False)
                continue
            n_relevant = sum(r.labels[label] for r in subset)
            if n_relevant <= args.prior_included or len(subset) - n_relevant < args.prior_excluded:
                console.print(f"[yellow]skipped {path.name} {label}: {n_relevant} relevant of {len(subset)} records "
                              f"leave none to find after {args.prior_included} relevant and "
                              f"{args.prior_excluded} irrelevant priors", highlight=False)
                continue
            for seed in seeds:
                jobs.append((path, subset, label, seed))

    if not jobs:  # (every skip above said why)
        raise SystemExit(f"nothing to run: no dataset of {args.data_dir} with --labels {args.labels} "
                         f"and --seeds {args.seeds} ({len(seeds)} seed(s))")
    if args.seed_major:  # every dataset with seed 0 first, then seed 1...: partial runs cover all datasets
        jobs.sort(key=lambda job: (seeds.index(job[3]), job[0].name, job[2]))
    total = len(jobs) * (1 + len(models))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("benchmark", total=total)
        for path, subset, label, seed in jobs:
            name = path.stem
            y = np.array([r.labels[label] for r in subset])
            priors = draw_priors(y, check_random_state(seed), args.prior_included, args.prior_excluded)
            base = {"dataset": name, "label": label, "seed": seed, "n_records": len(y),
                    "n_relevant": int(y.sum()), "n_priors": len(priors),
                    "prior_rows": " ".join(map(str, priors))}
            if not args.peer_only and (name, label, seed, "ldnscreen", args.model_name) not in done:
                if args.ldnscreen_process == "fresh":
                    bar.update(task, description=f"ldnscreen (own process) {name} {label} seed {seed}")
                    run = run_ldnscreen_process(path, label, seed, args)
                else:
                    bar.update(task, description=f"ldnscreen {name} {label} seed {seed}")
                    result = simulate(subset, label=label, seed=seed, prior_included=args.prior_included,
                                      prior_excluded=args.prior_excluded, progress=False, learner=learner,
                                      dataset=name, batch_size=_batch(args.batch_size),
                                      batch_growth=args.batch_growth)
                    run = {"rows": list(result.rows), "labels": list(result.labels),  # (ids may repeat)
                           "n_priors": result.n_priors, "wall_seconds": result.wall_seconds,
                           "cpu_seconds": result.cpu_seconds, "peak_memory_mb": result.peak_memory_mb}
                n_priors = run["n_priors"]
                if run["rows"][:n_priors] != [int(i) for i in priors]:
                    raise RuntimeError(f"ldnscreen used other priors: {run['rows'][:n_priors]} vs {priors}")
                metrics = screening_metrics(run["labels"][n_priors:], len(y) - len(priors), int(y.sum() - y[priors].sum()))
                append_order(orders_path, {"dataset": name, "label": label, "seed": seed, "tool": "ldnscreen",
                                           "model": args.model_name}, run["rows"], run["labels"], n_priors)
                append_row(runs_path, {**base, **metrics, "tool": "ldnscreen", "model": args.model_name,
                                       "wall_seconds": round(run["wall_seconds"], 3),
                                       "cpu_seconds": round(run["cpu_seconds"], 3),
                                       "peak_memory_mb": round(run["peak_memory_mb"], 1),
                                       "n_screened": len(run["rows"]) - n_priors})
            bar.advance(task)
            for model in models:
                if (name, label, seed, "asreview", model) in done:
                    bar.advance(task)
                    continue
                from asreview_runner import run_asreview

                bar.update(task, description=f"asreview {model} {name} {label} seed {seed}")
                try:
                    run = run_asreview(peer_rows(subset, label, not args.peer_title_abstract_only),
                                       label, priors, model=model, seed=seed)
                except RuntimeError as exc:
                    console.print(f"[red]asreview failed on {name} {label} seed {seed}: {exc}")
                    bar.advance(task)
                    continue
                if sorted(run.order[: run.n_priors]) != sorted(priors):
                    raise RuntimeError(f"ASReview used other priors: {run.order[:run.n_priors]} vs {priors}")
                peer_labels = [int(y[i]) for i in run.order[run.n_priors:]]
                metrics = screening_metrics(peer_labels, len(y) - len(priors), int(y.sum() - y[priors].sum()))
                append_order(orders_path, {"dataset": name, "label": label, "seed": seed, "tool": "asreview",
                                           "model": model},
                             list(run.order), [int(y[i]) for i in run.order], run.n_priors)
                append_row(runs_path, {**base, **metrics, "tool": "asreview", "model": model,
                                       "wall_seconds": round(run.wall_seconds, 3),
                                       "cpu_seconds": round(run.cpu_seconds, 3), "peak_memory_mb": "",
                                       "n_screened": len(run.order) - run.n_priors})
                bar.advance(task)
    if runs_path.exists():
        report_runs(out, args.model_name, models[0] if models else None, labels)
    return out


def output_suffix(model_name: str) -> str:
    """What the table's and pictures' file names carry for ``--model-name``: nothing for ``default``,
    else ``_<name>`` (letters, digits, ``.``, ``-`` and ``_`` kept), so that runs of several
    configurations into one folder each keep their own.

    Examples
    --------
    >>> output_suffix("default"), output_suffix("cw100"), output_suffix("C=0.3 / title 0")
    ('', '_cw100', '_C_0.3___title_0')
    """
    return "" if model_name == "default" else "_" + re.sub(r"[^A-Za-z0-9._-]", "_", model_name)


def report_runs(out: Path, model_name: str, peer_model: str | None, labels) -> None:
    """The table, the pictures and, against a peer, the comparison at every recall level
    (``benchmarks/recall_levels.py``) of the runs in ``out``."""
    print_table(out / "runs.csv", model_name, peer_model, out)
    plot_benchmark(out, model_name, peer_model)
    if peer_model:
        from recall_levels import report

        for label in labels:
            result = report(out, label, "asreview", model_name, peer_model, suffix=output_suffix(model_name))
            if result is not None:
                print(f"\nWork saved at other recall levels, {label} ({result[1].name}):\n{result[0]}")


def run_ldnscreen_process(path: Path, label: str, seed: int, args) -> dict:
    """One simulation by ``benchmarks/ldnscreen_driver.py`` in a new process (the default learner),
    with the environment and priority ASReview's runs get; its JSON result."""
    from asreview_runner import run_json_driver

    cmd = ["nice", "-n", "0", sys.executable, str(ROOT / "benchmarks" / "ldnscreen_driver.py"), str(path),
           "--label", label, "--seed", str(seed), "--prior-included", str(args.prior_included),
           "--prior-excluded", str(args.prior_excluded)]
    if args.no_keywords:
        cmd.append("--no-keywords")
    return run_json_driver(cmd, f"ldnscreen driver on {path.name} seed {seed}")


def _mean_sd(values: list[float], digits: int = 3) -> str:
    if not values:
        return ""
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _wilcoxon_p(diffs: list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired per-dataset differences (None: too few)."""
    diffs = [d for d in diffs if d != 0.0]
    if len(diffs) < 2:
        return None
    from scipy.stats import wilcoxon

    return float(wilcoxon(diffs).pvalue)


def summarise(runs_path: Path, model_name: str, peer_model: str | None) -> tuple[list[dict], dict]:
    """Per (dataset, label, tool) means and, for ldnscreen, the ratios to the peer."""
    with open(runs_path, newline="") as f:
        rows = list(csv.DictReader(f))
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["tool"] == "ldnscreen" and r["model"] != model_name:
            continue
        groups.setdefault((r["dataset"], r["label"], r["tool"], r["model"]), []).append(r)
    if peer_model:  # compare on the seeds both tools have run
        for (dataset, label, tool, model), runs in list(groups.items()):
            other = ("asreview", peer_model) if tool == "ldnscreen" else ("ldnscreen", model_name)
            mate = groups.get((dataset, label, *other))
            if mate:
                seeds = {r["seed"] for r in mate}
                groups[(dataset, label, tool, model)] = [r for r in runs if r["seed"] in seeds]
    table = []
    pairs = []
    for (dataset, label, tool, model), runs in sorted(groups.items()):
        entry = {"dataset": dataset, "label": label, "tool": f"{tool}:{model}", "seeds": len(runs),
                 "records": runs[0]["n_records"], "inclusions": runs[0]["n_relevant"]}
        for m in ("wss_95", "rrf_10", "atd", "loss", "wall_seconds", "cpu_seconds"):
            vals = [float(r[m]) for r in runs if r.get(m) not in (None, "")]
            entry[m] = statistics.fmean(vals) if vals else float("nan")
            entry[m + "_text"] = _mean_sd(vals, 1 if m == "atd" else (2 if m.endswith("seconds") else 3))
        if tool == "ldnscreen" and peer_model:
            peer = groups.get((dataset, label, "asreview", peer_model))
            if peer:
                common = {r["seed"] for r in runs} & {r["seed"] for r in peer}
                mine = {r["seed"]: r for r in runs if r["seed"] in common}
                theirs = {r["seed"]: r for r in peer if r["seed"] in common}
                w_me = statistics.fmean(float(mine[s]["wss_95"]) for s in common)
                w_them = statistics.fmean(float(theirs[s]["wss_95"]) for s in common)
                t_me = statistics.fmean(float(mine[s]["wall_seconds"]) for s in common)
                t_them = statistics.fmean(float(theirs[s]["wall_seconds"]) for s in common)
                c_me = statistics.fmean(float(mine[s]["cpu_seconds"] or "nan") for s in common)
                c_them = statistics.fmean(float(theirs[s]["cpu_seconds"] or "nan") for s in common)
                entry.update(wss_ratio=w_me / w_them if w_them else float("nan"), wss_diff=w_me - w_them,
                             time_ratio=t_me / t_them, cpu_ratio=c_me / c_them, n_common=len(common))
                pairs.append((dataset, label, w_me, w_them, t_me, t_them, c_me, c_them))
        table.append(entry)
    overall = {}
    if pairs:
        overall = {
            "pairs": len(pairs),
            "mean_wss_ldnscreen": statistics.fmean(p[2] for p in pairs),
            "mean_wss_peer": statistics.fmean(p[3] for p in pairs),
            "wss_ratio": statistics.fmean(p[2] for p in pairs) / statistics.fmean(p[3] for p in pairs),
            "mean_wss_diff": statistics.fmean(p[2] - p[3] for p in pairs),
            "min_wss_diff": min(p[2] - p[3] for p in pairs),
            "worst_pair": min(pairs, key=lambda p: p[2] - p[3])[:2],
            "time_ratio_total": sum(p[4] for p in pairs) / sum(p[5] for p in pairs),
            "max_time_ratio": max(p[4] / p[5] for p in pairs),
            "cpu_ratio_total": sum(p[6] for p in pairs) / sum(p[7] for p in pairs),
            "max_cpu_ratio": max(p[6] / p[7] for p in pairs),
            "datasets_better": sum(p[2] > p[3] for p in pairs),
            "median_wss_diff": statistics.median(p[2] - p[3] for p in pairs),
            "wilcoxon_p": _wilcoxon_p([p[2] - p[3] for p in pairs]),
        }
    return table, overall


def print_table(runs_path: Path, model_name: str, peer_model: str | None, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table_rows, overall = summarise(runs_path, model_name, peer_model)
    t = Table(title=f"Screening simulations (mean ± sd over seeds; priors excluded) - {runs_path}")
    for col in ("dataset", "label", "tool", "n", "records", "incl.", "WSS@95", "RRF@10", "ATD", "loss",
                "wall s", "cpu s", "WSS ratio", "ΔWSS", "wall ratio", "cpu ratio"):
        t.add_column(col, justify="left" if col in ("dataset", "label", "tool") else "right")
    md = ["| dataset | label | tool | seeds | records | incl. | WSS@95 | RRF@10 | ATD | loss | wall s | cpu s |"
          " WSS ratio | ΔWSS | wall ratio | cpu ratio |", "|" + "---|" * 16]
    for e in table_rows:
        cells = [e["dataset"], e["label"].replace("label_", ""), e["tool"], str(e["seeds"]), e["records"],
                 e["inclusions"], e["wss_95_text"], e["rrf_10_text"], e["atd_text"], e["loss_text"],
                 e["wall_seconds_text"], e["cpu_seconds_text"],
                 f"{e['wss_ratio']:.3f}" if "wss_ratio" in e else "",
                 f"{e['wss_diff']:+.3f}" if "wss_diff" in e else "",
                 f"{e['time_ratio']:.3f}" if "time_ratio" in e else "",
                 f"{e['cpu_ratio']:.3f}" if "cpu_ratio" in e else ""]
        t.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    console = Console(width=250)
    console.print(t)
    if overall:
        console.print(json.dumps(overall, indent=1))
    (out / f"table{output_suffix(model_name)}.md").write_text("\n".join(md) + "\n\n" + json.dumps(overall, indent=1) + "\n")


def _tool_runs(runs_path: Path, model_name: str, peer_model: str | None) -> dict[tuple, dict[str, dict]]:
    """(dataset, label) -> "tool:model" -> {seed: runs.csv row}, ldnscreen's ``model_name`` and the peer only."""
    with open(runs_path, newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        wanted = model_name if r["tool"] == "ldnscreen" else peer_model
        if r["model"] == wanted:
            out.setdefault((r["dataset"], r["label"]), {}).setdefault(f"{r['tool']}:{r['model']}", {})[r["seed"]] = r
    return out


def recall_curve(labels: list[int], n_priors: int, pool: int, relevant: int) -> tuple:
    """Share screened and recall after each screened record, up to the whole dataset; ``pool`` and
    ``relevant`` are the records and relevant records without the priors (``runs.csv``'s
    ``n_records`` and ``n_relevant``, the metrics' counts)."""
    import numpy as np

    screened = np.asarray(labels[n_priors:], dtype=float)
    found = np.concatenate([[0.0], np.cumsum(screened)]) / max(relevant, 1)
    x = np.arange(len(found)) / pool
    if len(screened) < pool:  # a run that stopped at the last relevant record has found them all
        x, found = np.append(x, 1.0), np.append(found, found[-1])
    return x, found


def plot_benchmark(out: Path, model_name: str, peer_model: str | None) -> list[Path]:
    """``wss95_<label>.png`` (every run's WSS@95 per dataset and tool) and ``recall_<label>.png``
    (each dataset's recall curves, every seed of each tool, from ``orders.jsonl``) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = _tool_runs(out / "runs.csv", model_name, peer_model)
    orders = read_orders(out / "orders.jsonl")
    colours = {"ldnscreen": "tab:blue", "asreview": "tab:orange"}
    written = []
    for label in sorted({label for _, label in runs}):
        datasets = sorted(d for d, lab in runs if lab == label)
        tools = sorted({t for d in datasets for t in runs[(d, label)]}, key=lambda t: not t.startswith("ldnscreen"))
        fig, ax = plt.subplots(figsize=(9, 0.4 * len(datasets) + 1.4), dpi=100)
        for k, tool in enumerate(tools):
            offset = (k - (len(tools) - 1) / 2) * 0.25
            for j, dataset in enumerate(datasets):
                values = [float(r["wss_95"]) for r in runs[(dataset, label)].get(tool, {}).values()]
                if values:
                    ax.scatter(values, [j + offset] * len(values), s=10, alpha=0.5, color=colours[tool.split(":")[0]])
                    ax.scatter([np.mean(values)], [j + offset], s=60, marker="D", color=colours[tool.split(":")[0]],
                               label=tool if j == 0 else None)
        ax.set_yticks(range(len(datasets)), datasets, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("WSS@95 (dots: seeds, diamonds: mean)")
        ax.set_title(f"Work saved at 95 % recall, {label}")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        fig.tight_layout()
        path = out / f"wss95_{label}{output_suffix(model_name)}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)

        by_dataset: dict[str, list[dict]] = {}
        for o in orders:
            tool = f"{o['tool']}:{o['model']}"
            if o["label"] == label and o["dataset"] in datasets and tool in tools:
                by_dataset.setdefault(o["dataset"], []).append(o)
        if not by_dataset:
            continue
        names = sorted(by_dataset)
        cols = min(4, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), dpi=100, squeeze=False)
        for ax, dataset in zip(axes.flat, names):
            first = next(iter(next(iter(runs[(dataset, label)].values())).values()))
            n_records, n_relevant = int(first["n_records"]), int(first["n_relevant"])  # (priors excluded)
            ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=0.8)
            ax.axhline(0.95, color="grey", linestyle=":", linewidth=0.8)
            seen = set()
            for o in by_dataset[dataset]:
                x, recall = recall_curve(o["labels"], o["n_priors"], n_records, n_relevant)
                tool = f"{o['tool']}:{o['model']}"
                ax.plot(x, recall, color=colours[o["tool"]], linewidth=0.8, alpha=0.6,
                        label=tool if tool not in seen else None)
                seen.add(tool)
            ax.set_title(f"{dataset} ({n_relevant}/{n_records})", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7, loc="lower right")
        fig.supxlabel("share of records screened (priors excluded)")
        fig.supylabel("recall")
        fig.suptitle(f"Recall curves, every seed, {label} (dashed: random; dotted: 95 % recall)")
        fig.tight_layout()
        path = out / f"recall_{label}{output_suffix(model_name)}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ldnscreen vs ASReview screening simulations.")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--datasets", default="", help="comma-separated dataset names (file stems)")
    parser.add_argument("--seeds", default="5", help="a count (5 = seeds 0-4) or a list/range: 0,3 or 2-4")
    parser.add_argument("--labels", default=",".join(LABELS))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_DATASETS)}")
    parser.add_argument("--peer", choices=["asreview"], default=None)
    parser.add_argument("--peer-model", default="elas_u4", help="elas_u4,tfidf-logistic")
    parser.add_argument("--peer-title-abstract-only", action="store_true",
                        help="give ASReview title and abstract only (default: keywords appended to the "
                             "abstract, the same text ldnscreen reads)")
    parser.add_argument("--no-keywords", action="store_true",
                        help="drop the records' keywords for both tools: title and abstract only")
    parser.add_argument("--seed-major", action="store_true", help="all datasets for one seed before the next seed")
    parser.add_argument("--peer-only", action="store_true", help="run only the peer (reuse ldnscreen runs)")
    parser.add_argument("--prior-included", type=int, default=1)
    parser.add_argument("--prior-excluded", type=int, default=1)
    parser.add_argument("--learner", default="", help='JSON: {"features": {...}, "classifier": {...}, '
                                                      '"learner": {...}}')
    parser.add_argument("--batch-size", default="auto", help="records per retrain: auto or a number")
    parser.add_argument("--batch-growth", type=float, default=0.02, help="auto batch = ceil(growth * labels) "
                                                                          "after 100 labels")
    parser.add_argument("--model-name", default="default", help="name of the ldnscreen configuration")
    parser.add_argument("--ldnscreen-process", choices=["same", "fresh"], default="same",
                        help="time ldnscreen in this process (same) or, like ASReview, each run in a new "
                             "process after its imports and data loading (fresh; the default learner only)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / ".work" / time.strftime("run-%Y%m%d-%H%M%S")))
    parser.add_argument("--table-only", action="store_true",
                        help="print the table and draw the pictures of the runs already in --out "
                             "(for --model-name) and exit")
    args = parser.parse_args(argv)
    if args.ldnscreen_process == "fresh" and (args.learner or args.batch_size != "auto" or args.batch_growth != 0.02):
        parser.error("--ldnscreen-process fresh runs the default learner only (no --learner, --batch-size, "
                     "--batch-growth)")
    if args.table_only:
        if not (Path(args.out) / "runs.csv").is_file():
            parser.error(f"--table-only: {args.out} has no runs.csv (the --out folder of an earlier run)")
        models = args.peer_model.split(",") if args.peer else []
        report_runs(Path(args.out), args.model_name, models[0] if models else None, args.labels.split(","))
        return
    if not Path(args.data_dir).is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a folder")
    run_benchmark(args)


if __name__ == "__main__":
    main()
