"""Run ASReview LAB's own simulation on a screening dataset, for side-by-side benchmarks.

ASReview is installed into its own virtual environment
(``benchmarks/.venv-asreview``, created on first use and git-ignored) so that
its pinned dependencies never touch ldnscreen's. A run writes a temporary CSV
in ASReview's format (``record_id,title,abstract,label_included``), calls
``asreview simulate`` with explicit prior rows (``--prior-idx``) so that both
tools start from the same prior records, then reads the screening order back
from the results table of the ``.asreview`` project (a zip holding an SQLite
database) and reports the wall time of the ``asreview simulate`` process.

Models (``model=``):

* ``elas_u4``: ASReview's default (TF-IDF 1-2 grams with sublinear tf, linear
  SVM C=0.11, balanced sample weights ratio 9.8, max query).
* ``tfidf-logistic``: TF-IDF with default settings, sklearn's default
  logistic regression, ``balanced`` sample weights (ratio 1), max query
  (``asreview simulate`` with ``-e tfidf -c logistic -b balanced -q max``).

Usage as a script::

    python benchmarks/asreview_runner.py DATA.csv --prior-idx 3 17 --seed 0
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-asreview"
ASREVIEW_SPEC = "asreview>=2,<4"
MODELS = ("elas_u4", "tfidf-logistic")
# The same thread limits ldnscreen's simulation uses (threadpoolctl, 1 thread):
# on a busy machine BLAS/OpenMP thread pools slow small repeated fits down.
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class PeerRun:
    """One ASReview simulation.

    ``order`` holds row numbers (0-based, into the input file) of every record
    ASReview labelled, priors first, in labelling order; ``labels`` their labels.
    """

    model: str
    order: tuple[int, ...]
    labels: tuple[int, ...]
    n_priors: int
    wall_seconds: float
    version: str
    cpu_seconds: float = float("nan")
    process_seconds: float = float("nan")


def asreview_executable(install: bool = True) -> Path:
    """Path of the ``asreview`` command, creating its virtual environment if needed."""
    exe = VENV / "bin" / "asreview"
    if exe.exists():
        return exe
    if not install:
        raise FileNotFoundError(f"ASReview is not installed in {VENV}")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", ASREVIEW_SPEC], check=True)
    return exe


@functools.lru_cache(maxsize=1)
def asreview_version() -> str:
    out = subprocess.run(
        [str(asreview_executable()), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().split()[-1]


def write_asreview_csv(rows: list[dict], label: str, path: Path) -> None:
    """Write ``rows`` (dicts with title, abstract and ``label``) as an ASReview CSV."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["record_id", "title", "abstract", "label_included"])
        for i, row in enumerate(rows):
            writer.writerow([i, row.get("title", ""), row.get("abstract", ""), int(row[label])])


def _model_arguments(model: str) -> list[str]:
    if model == "elas_u4":
        return ["--ai", "elas_u4"]
    if model == "tfidf-logistic":
        return ["-e", "tfidf", "-c", "logistic", "-b", "balanced", "-q", "max"]
    raise ValueError(f"unknown ASReview model {model!r}; choose from {MODELS}")


def read_project_order(project_file: Path) -> tuple[list[int], list[int], int]:
    """Record rows and labels in labelling order from an ``.asreview`` project file.

    Returns ``(record_rows, labels, n_priors)``; priors are the results with no
    training set (labelled before any model was trained).
    """
    with zipfile.ZipFile(project_file) as z, tempfile.TemporaryDirectory() as tmp:
        names = [n for n in z.namelist() if n.endswith("results.db")]
        if not names:
            raise ValueError(f"no results.db in {project_file}: {z.namelist()}")
        db_path = Path(z.extract(names[0], tmp))
        con = sqlite3.connect(db_path)
        try:
            rows = con.execute(
                "SELECT record_id, label, training_set FROM results ORDER BY rowid"
            ).fetchall()
        finally:
            con.close()
    n_priors = sum(1 for _, _, ts in rows if ts is None)
    return [int(r) for r, _, _ in rows], [int(y) for _, y, _ in rows], n_priors


def run_asreview(
    rows: list[dict],
    label: str,
    prior_rows: list[int],
    *,
    model: str = "elas_u4",
    seed: int = 0,
    n_stop: int | None = None,
    workdir: Path | None = None,
    nice: int = 0,
    mode: str = "api",
) -> PeerRun:
    """Simulate ``rows`` with ASReview from the given prior rows.

    ASReview's ``record_id`` in its results table is the 0-based row of the
    CSV written here, i.e. the row of ``rows``.

    ``mode="api"`` (default) runs ``asreview_driver.py`` in ASReview's venv:
    the same cycles as ``asreview simulate`` with ``Simulate.review()`` timed
    alone (feature extraction + loop, the span ldnscreen's wall time covers).
    ``mode="cli"`` runs ``asreview simulate -o project.asreview`` and reads
    the order back from the project file; its wall time is the whole process
    (start-up, data loading, project writing). ``nice`` is added to the
    caller's own niceness (0 = same priority as the caller, so both tools get
    the same share of a busy machine).
    """
    if mode == "api":
        return _run_driver(rows, label, prior_rows, model=model, seed=seed, n_stop=n_stop,
                           workdir=workdir, nice=nice)
    exe = asreview_executable()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        data = Path(tmp) / "data.csv"
        write_asreview_csv(rows, label, data)
        project = Path(tmp) / "sim.asreview"
        cmd = ["nice", "-n", str(nice), str(exe), "simulate", str(data), "-o", str(project)]
        cmd += _model_arguments(model) + ["--seed", str(seed), "--prior-idx", *map(str, prior_rows)]
        if n_stop is not None:
            cmd += ["--n-stop", str(n_stop)]
        env = {**os.environ, **SINGLE_THREAD}
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"asreview simulate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        order, labels, n_priors = read_project_order(project)
    return PeerRun(model, tuple(order), tuple(labels), n_priors, wall, asreview_version())


def run_json_driver(cmd: list[str], what: str) -> dict:
    """Run a timing driver (one BLAS thread) and read the JSON object on its last line of output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **SINGLE_THREAD})
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_driver(rows, label, prior_rows, *, model, seed, n_stop, workdir, nice) -> PeerRun:
    exe = asreview_executable()
    python = exe.parent / "python"
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        data = Path(tmp) / "data.csv"
        write_asreview_csv(rows, label, data)
        cmd = ["nice", "-n", str(nice), str(python), str(HERE / "asreview_driver.py"), str(data),
               "--model", model, "--seed", str(seed), "--prior-idx", *map(str, prior_rows)]
        if n_stop is not None:
            cmd += ["--n-stop", str(n_stop)]
        out = run_json_driver(cmd, "asreview driver")
    return PeerRun(model, tuple(out["order"]), tuple(out["labels"]), out["n_priors"], out["review_wall"],
                   asreview_version(), out["review_cpu"], out["process_wall"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--label", default="label_included")
    parser.add_argument("--prior-idx", type=int, nargs="+", required=True)
    parser.add_argument("--model", default="elas_u4", choices=MODELS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="api", choices=["api", "cli"])
    args = parser.parse_args(argv)
    with open(args.data, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    run = run_asreview(rows, args.label, args.prior_idx, model=args.model, seed=args.seed, mode=args.mode)
    print(json.dumps({"model": run.model, "n_labelled": len(run.order), "n_priors": run.n_priors,
                      "wall_seconds": round(run.wall_seconds, 2), "cpu_seconds": round(run.cpu_seconds, 2),
                      "asreview": run.version, "order_head": run.order[:12]}))


if __name__ == "__main__":
    main()
