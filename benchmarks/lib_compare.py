"""Two or more versions of the library simulating the same reviews, side by side: time, memory, orders.

For a change that should not change the ranking (a faster data structure, a new limit), this
answers the three questions the team asks: how much faster, how much more memory, and whether
every order is still the same. Each configuration is a copy of the library and/or module
settings; every simulation runs in a new process of its own (so peak memory is its own), and the
configurations alternate in an A B ... B A pattern per dataset and seed so that the machine's load
hits them alike.

A configuration is ``NAME`` alone (the installed working tree), or ``NAME=ITEM;ITEM...`` with items

``lib:DIR``                   import ``ldnscreen`` from ``DIR`` (a frozen copy:
                              ``git archive HEAD ldnscreen | tar -x -C DIR``, plus the built
                              ``ldnscreen/*.so`` copied in)
``set:MODULE.ATTR=VALUE``     set a module attribute of ``ldnscreen.MODULE`` before the run
                              (an int, float or string)

Prints one row per dataset and configuration: records screened, the wall time of the simulation
(``SimulationResult.wall_seconds``, features and loop, as the screening benchmark times it; the
fastest repeat, summed over the seeds), the first configuration's time over it, the largest peak
resident memory, and whether the order equals the first configuration's on every seed (else how
many records differ in place and whether the labels, and so every metric, are the same).

Usage::

    git archive HEAD ldnscreen | tar -x -C /tmp/head && cp ldnscreen/*.so /tmp/head/ldnscreen/
    .venv/bin/python benchmarks/lib_compare.py DATA.csv [DATA2.csv ...] --config "head=lib:/tmp/head" \\
        --config new [--seeds 0] [--repeats 2] [--out runs.jsonl]
    .venv/bin/python benchmarks/lib_compare.py DATA.csv --config "2M=set:rankers._SCORING_GRAM_CELLS=2000000" \\
        --config "8M=set:rankers._SCORING_GRAM_CELLS=8000000"
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as both benchmark drivers run
    os.environ.setdefault(_name, "1")


def parse_config(text: str) -> tuple[str, str | None, list[tuple[str, str, str]]]:
    """``(name, lib_dir, [(module, attribute, value)])`` of a ``--config`` argument.

    Examples
    --------
    >>> parse_config("new")
    ('new', None, [])
    >>> parse_config("8M=lib:/tmp/head;set:rankers._SCORING_GRAM_CELLS=8000000")
    ('8M', '/tmp/head', [('rankers', '_SCORING_GRAM_CELLS', '8000000')])
    """
    name, _, spec = text.partition("=")
    lib, settings = None, []
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        kind, _, value = item.partition(":")
        if kind == "lib":
            lib = value
        elif kind == "set" and "=" in value and "." in value.partition("=")[0]:
            target, _, setting = value.partition("=")
            module, _, attribute = target.rpartition(".")
            settings.append((module, attribute, setting))
        else:
            raise SystemExit(f"--config {text!r}: {item!r} is neither lib:DIR nor set:MODULE.ATTR=VALUE")
    return name, lib, settings


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def child(path: str, seed: int, settings: list[tuple[str, str, str]]) -> None:
    """One simulation in this process; prints its JSON line (the order itself for the parent to compare)."""
    for module, attribute, value in settings:
        target = importlib.import_module(f"ldnscreen.{module}")
        if not hasattr(target, attribute):  # (a misspelt name would otherwise change nothing, silently)
            raise SystemExit(f"ldnscreen.{module} has no attribute {attribute!r}")
        setattr(target, attribute, _value(value))
    from ldnscreen.simulate import load_labelled_records, simulate

    result = simulate(load_labelled_records(path), seed=seed, progress=False)
    print(json.dumps({"wall": result.wall_seconds, "peak_mb": result.peak_memory_mb,
                      "order": list(result.record_ids), "labels": [int(v) for v in result.labels],
                      "library": importlib.import_module("ldnscreen").__file__}))


def run(path: Path, seed: int, config: tuple[str, str | None, list]) -> dict:
    name, lib, settings = config
    command = [sys.executable, __file__, "--child", str(path), str(seed), "--config", _spec(config)]
    env = dict(os.environ)
    if lib:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [lib, env.get("PYTHONPATH")]))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).parent)
    if done.returncode:
        raise SystemExit(f"{name} on {path.name} seed {seed} failed:\n{done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    expected = str(Path(lib).resolve()) if lib else None
    if expected and not out["library"].startswith(expected):
        raise SystemExit(f"{name}: ldnscreen was imported from {out['library']}, not from {lib}")
    return out


def _spec(config) -> str:
    name, lib, settings = config
    items = ([f"lib:{lib}"] if lib else []) + [f"set:{m}.{a}={v}" for m, a, v in settings]
    return f"{name}={';'.join(items)}" if items else name


def compare(order: list, labels: list, first_order: list, first_labels: list) -> str:
    """How an order compares with the first configuration's.

    Examples
    --------
    >>> compare([1, 2, 3], [1, 0, 0], [1, 2, 3], [1, 0, 0]), compare([1, 3, 2], [1, 0, 0], [1, 2, 3], [1, 0, 0])
    ('identical', '2 in other places, same labels')
    """
    if order == first_order:
        return "identical"
    moved = sum(a != b for a, b in zip(order, first_order)) + abs(len(order) - len(first_order))
    return f"{moved} in other places, {'same labels' if labels == first_labels else 'other labels'}"


def _wall(results: list[dict], seeds: list[int]) -> float:
    """The fastest of the repeats, summed over the seeds."""
    return sum(min(r["wall"] for r in results if r["seed"] == seed) for seed in seeds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", type=Path, help="labelled files (CSV, TSV, XLSX, RIS...)")
    parser.add_argument("--config", action="append", default=[], help="NAME or NAME=lib:DIR;set:MODULE.ATTR=VALUE")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of A B ... B A per dataset and seed")
    parser.add_argument("--out", type=Path, help="also write every run as a JSON line (without orders)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        path, seed = args.data[0], int(str(args.data[1]))
        child(str(path), seed, parse_config(args.config[0])[2])
        return
    configs = [parse_config(text) for text in args.config]
    if len(configs) < 2:
        parser.error("give at least two --config")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    out = args.out.open("a") if args.out else None
    rows = []
    try:
        from rich.progress import Progress

        total = len(args.data) * len(seeds) * args.repeats * len(configs)
        with Progress() as bar:
            task = bar.add_task("simulations", total=total)
            for path in args.data:
                runs = {config[0]: [] for config in configs}
                for seed in seeds:
                    for round_ in range(args.repeats):
                        for config in configs if round_ % 2 == 0 else configs[::-1]:
                            bar.update(task, description=f"{config[0]} {path.stem} seed {seed}")
                            result = run(path, seed, config)
                            result["seed"] = seed
                            runs[config[0]].append(result)
                            if out:
                                digest = hashlib.sha1(repr(result["order"]).encode()).hexdigest()
                                out.write(json.dumps({"data": str(path), "config": config[0], "seed": seed,
                                                      "wall": result["wall"], "peak_mb": result["peak_mb"],
                                                      "order_sha1": digest}) + "\n")
                                out.flush()
                            bar.advance(task)
                rows.append((path, runs))
    finally:
        if out:
            out.close()
    first = configs[0][0]
    print(f"| review | configuration | screened | wall | speed vs {first} | peak memory | order vs {first} |")
    print("|---|---|---|---|---|---|---|")
    for path, runs in rows:
        base_wall = _wall(runs[first], seeds)
        for name, results in runs.items():
            wall = _wall(results, seeds)
            verdicts = set()
            for result in results:
                reference = next(r for r in runs[first] if r["seed"] == result["seed"])
                verdicts.add(compare(result["order"], result["labels"], reference["order"], reference["labels"]))
            screened = sum(len(r["order"]) for r in results) // args.repeats
            print(f"| {path.stem} | {name} | {screened} | {wall:.2f} s | {base_wall / wall:.2f}x | "
                  f"{max(r['peak_mb'] for r in results):.0f} MB | {'; '.join(sorted(verdicts))} |")


if __name__ == "__main__":
    main()
