"""The benchmark runner: ``python -m benchmarks`` (or ``benchmarks.main(argv)`` from a CLI).

In one run, on the same data, network, initial weights, loss, optimiser and float32: training
throughput of chainrule, the hand-written NumPy loop, PyTorch and scikit-learn; inference
throughput; GFLOP/s against the measured sgemm peak; peak RSS of a training run; time to 0.88
test accuracy on Fashion-MNIST; how a step's cost grows; chainrule.sklearn's estimators against
scikit-learn's MLPClassifier. Every figure is the median of
``--repeats`` interleaved repeats after a warm-up; every ratio is chainrule's speed over the other's
(> 1: chainrule is faster), the median of the ratios within each round of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
import chainrule.data
from benchmarks import estimators, fashion, memory, roofline, scaling
from benchmarks.anchors import ANCHORS, available, make_trainer
from benchmarks.timing import interleaved, median, speedups, threads
from benchmarks.workloads import (
    NETWORKS,
    Workload,
    inference_flops_per_sample,
    initial_params,
    synthetic,
    train_flops_per_sample,
)

SECTIONS = ("agreement", "train", "inference", "memory", "fashion", "scaling", "estimators")
TARGETS = {
    "torch@32": 1.3,
    "torch@128": 1.1,
    "torch@512": 1.1,
    "numpy": 0.95,
    "sklearn": 2.5,
    "estimators": 2.5,
    "roofline": 0.9,
    "fashion": 0.8,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat: checks the runner works")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every BLAS/OpenMP pool and PyTorch (default: the cores this process may use)",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or process CPU time (steadier on a loaded machine; --threads 1 only)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per figure (median)")
    p.add_argument("--samples", type=int, default=10_000, help="training examples (synthetic)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per timed repeat (one fit call)")
    p.add_argument("--full-batch-steps", type=int, default=5, help="steps per repeat of full-batch GD")
    p.add_argument(
        "--estimator-epochs", type=int, default=10, help="max_iter of each estimator fit (estimators section)"
    )
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    p.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    p.add_argument("--optimizers", nargs="+", choices=("sgd", "adam"), default=["sgd", "adam"])
    p.add_argument("--anchors", nargs="+", choices=ANCHORS, default=list(ANCHORS))
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--fashion-dir", type=Path, default=fashion.DEFAULT_DIR)
    p.add_argument("--json", type=Path, help="write every figure to this JSON file")
    p.add_argument("--plot", type=Path, help="write the scaling plot to this PNG (needs matplotlib)")
    args = p.parse_args(argv)
    if args.threads is None:
        args.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.clock == "cpu" and args.threads != 1:
        p.error("--clock cpu sums the CPU time of all threads: use it with --threads 1")
    if args.smoke:
        args.repeats, args.samples, args.epochs, args.full_batch_steps = 1, 512, 1, 1
        args.estimator_epochs = 1
        args.batch_sizes = args.batch_sizes[:1]
    if args.repeats < 1 or args.samples < 2 or args.epochs < 1 or args.estimator_epochs < 1:
        p.error("--repeats, --epochs and --estimator-epochs must be ≥ 1 and --samples ≥ 2")
    missing = [a for a in args.anchors if not available(a)]
    if missing:
        print(f"# skipping {', '.join(missing)}: not installed (pip install -e '.[bench]')", file=sys.stderr)
        args.anchors = [a for a in args.anchors if a not in missing]
    return args


def machine(args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    from threadpoolctl import threadpool_info

    versions = {"python": platform.python_version(), "numpy": np.__version__, "chainrule": cr.__version__}
    for name in ("torch", "sklearn"):
        if name in args.anchors:
            versions[name] = __import__(name).__version__
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": args.threads,
        "clock": args.clock,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "versions": versions,
        "blas": blas,
    }


def workloads(args: argparse.Namespace) -> list[Workload]:
    batches: list[int | None] = [*args.batch_sizes, None]
    return [Workload(n, o, b) for n in args.networks for o in args.optimizers for b in batches]


def agreement(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> list[dict]:
    """The contenders compute the same thing: one epoch, in order, from the same weights; the largest
    weight difference from chainrule's, relative to how far chainrule's weights moved."""
    rows = []
    n = min(len(X), 1024)
    for network in args.networks:
        for optimizer in args.optimizers:
            w = Workload(network, optimizer, 32)
            start = initial_params(w.sizes, w.activation)
            result = {}
            for anchor in args.anchors:
                trainer = make_trainer(anchor, w, X[:n], y[:n], start, shuffle=False)
                result[anchor] = (trainer.train(1), trainer.params())
            loss_ref, ref = result["chainrule"]
            moved = max(float(np.abs(W - W0).max()) for (W, _), (W0, _) in zip(ref, start, strict=True))
            for anchor, (loss, params) in result.items():
                diff = max(float(np.abs(W - Wr).max()) for (W, _), (Wr, _) in zip(params, ref, strict=True))
                rows.append(
                    {
                        "network": w.label,
                        "optimizer": optimizer,
                        "anchor": anchor,
                        "loss": loss,
                        "loss_diff": abs(loss - loss_ref),
                        "max_weight_diff": diff,
                        "relative_to_step": diff / moved,
                    }
                )
    return rows


def train(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> list[dict]:
    rows = []
    for w in workloads(args):
        params = initial_params(w.sizes, w.activation)
        trainers = {a: make_trainer(a, w, X, y, params) for a in args.anchors}
        epochs = args.full_batch_steps if w.batch_size is None else args.epochs
        runs = {a: (lambda t=t, e=epochs: t.train(e)) for a, t in trainers.items()}
        times = interleaved(runs, args.repeats, warmup=1, clock=args.clock)
        rate = {a: epochs * len(X) / median(t) for a, t in times.items()}
        gflops = {a: r * train_flops_per_sample(w.sizes) / 1e9 for a, r in rate.items()}
        rows.append(
            {
                "network": w.label,
                "optimizer": w.optimizer,
                "batch": w.batch_size or "full",
                "samples_per_s": rate,
                "times_s": times,
                "gflops": gflops,
                "ratio": speedups(times),
            }
        )
        _print_row(rows[-1], args.anchors)
    return rows


def inference(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> list[dict]:
    rows = []
    for network in args.networks:
        w = Workload(network, "sgd", 32)
        params = initial_params(w.sizes, w.activation)
        trainers = {a: make_trainer(a, w, X[:64], y[:64], params) for a in args.anchors}
        runs = {a: (lambda t=t: t.predict_proba(X)) for a, t in trainers.items()}
        times = interleaved(runs, args.repeats, warmup=1, clock=args.clock)
        rate = {a: len(X) / median(t) for a, t in times.items()}
        rows.append(
            {
                "network": w.label,
                "samples_per_s": rate,
                "times_s": times,
                "gflops": {a: r * inference_flops_per_sample(w.sizes) / 1e9 for a, r in rate.items()},
                "ratio": speedups(times),
            }
        )
        _print_row({**rows[-1], "optimizer": "-", "batch": len(X)}, args.anchors)
    return rows


def memory_runs(args: argparse.Namespace) -> dict[str, Any]:
    w = Workload(args.networks[0], "sgd", 128)
    by_anchor = {a: memory.peak_rss(a, w, args.samples, 1, args.threads) for a in args.anchors}
    sizes = [args.samples] if args.smoke else [args.samples * k for k in (1, 2, 4, 8)]
    by_size = [{"samples": n, **memory.peak_rss("chainrule", w, n, 1, args.threads)} for n in sizes]
    result = {"workload": f"{w.label}, sgd, batch 128, 1 epoch", "by_anchor": by_anchor, "by_size": by_size}
    if not all((fashion.DEFAULT_DIR / name).is_file() for name in cr.data.FASHION_MNIST_SHA256):
        result["fashion_command"] = {"skipped": f"no Fashion-MNIST files in {fashion.DEFAULT_DIR}"}
        return result
    argv = [*memory.FASHION_COMMAND, "--out", "run"]
    if args.smoke:  # the runner works: a few rows, not the figure
        argv += ["--samples", "2000"]
    with tempfile.TemporaryDirectory() as tmp:
        result["fashion_command"] = {
            "command": "chainrule " + " ".join(argv),
            **memory.command_peak_rss(argv, Path(tmp)),
        }
    return result


def targets(
    train_rows: list[dict], fashion_result: dict | None, estimator_rows: list[dict] | None = None
) -> list[dict]:
    """The issue's targets, each as the worst case over the table's rows it covers.

    A speed-up over another contender has a ceiling: at most the sgemm peak over that
    contender's GFLOP/s, 1 / (its fraction of the peak), reached only if chainrule's step were
    nothing but matrix products at the peak. ``above_ceiling`` counts the rows on which a goal
    lies above that ceiling: there, no code running on this BLAS can meet it."""
    out = []

    def add(name: str, anchor: str, rows: list[dict], goal: float) -> None:
        rows = [r for r in rows if anchor in r["ratio"]]
        if rows:
            value = min(r["ratio"][anchor] for r in rows)
            target = {"target": name, "value": value, "goal": goal, "met": value >= goal}
            if all("roofline" in r for r in rows):
                target["above_ceiling"] = sum(goal > 1 / r["roofline"][anchor] for r in rows)
                target["rows"] = len(rows)
            out.append(target)

    for batch in (32, 128, 512):
        rows = [r for r in train_rows if r["batch"] == batch]
        add(f"chainrule/torch at batch {batch}", "torch", rows, TARGETS[f"torch@{batch}"])
    add("chainrule/numpy loop, every batch", "numpy", train_rows, TARGETS["numpy"])
    add("chainrule/sklearn", "sklearn", train_rows, TARGETS["sklearn"])
    big = "-".join(map(str, NETWORKS["relu"][0])) + " relu"
    fractions = [
        r["roofline"]["chainrule"]
        for r in train_rows
        if r["batch"] == 512 and r["network"] == big and r["optimizer"] == "sgd"
    ]
    if fractions:
        goal = TARGETS["roofline"]
        out.append(
            {
                "target": f"roofline fraction at batch 512 ({big}, SGD)",
                "value": min(fractions),
                "goal": goal,
                "met": min(fractions) >= goal,
            }
        )
    if estimator_rows:  # issue #5: the estimators against scikit-learn given float64 data
        value = min(r["ratio"]["sklearn float64"] for r in estimator_rows)
        goal = TARGETS["estimators"]
        out.append(
            {
                "target": "chainrule.sklearn/sklearn MLPClassifier (float64 data)",
                "value": value,
                "goal": goal,
                "met": value >= goal,
                "above_ceiling": sum(goal > r["ceiling"] for r in estimator_rows),
                "rows": len(estimator_rows),
            }
        )
    if fashion_result and all(
        fashion_result.get(a, {}).get("median_seconds") for a in ("chainrule", "torch")
    ):
        ratio = fashion_result["chainrule"]["median_seconds"] / fashion_result["torch"]["median_seconds"]
        out.append(
            {
                "target": f"time to {fashion_result['target']}, chainrule/torch (lower is better)",
                "value": ratio,
                "goal": TARGETS["fashion"],
                "met": ratio <= TARGETS["fashion"],
            }
        )
    return out


def _print_row(row: dict, anchors: list[str]) -> None:
    rates = "".join(f"{row['samples_per_s'][a]:>11,.0f}" for a in anchors)
    ratios = "".join(f"{row['ratio'][a]:>9.2f}" for a in anchors if a != "chainrule")
    gflops = f"{row['gflops']['chainrule']:>8.1f}"
    print(f"{row['network']:<20}{row['optimizer']:>5}{row['batch']!s:>7}{rates}{ratios}{gflops}", flush=True)


def _print_header(title: str, anchors: list[str]) -> None:
    print(f"\n{title}")
    others = [a for a in anchors if a != "chainrule"]
    print(
        f"{'network':<20}{'opt':>5}{'batch':>7}"
        + "".join(f"{a:>11}" for a in anchors)
        + "".join(f"{'cr/' + a[:5]:>9}" for a in others)
        + f"{'GFLOP/s':>8}"
    )


def _print_roofline(rows: list[dict], peak: float) -> None:
    print(f"training GFLOP/s as a fraction of the sgemm peak ({peak:.1f} GFLOP/s)")
    anchors = list(rows[0]["roofline"])
    print(f"{'network':<20}{'opt':>5}{'batch':>7}" + "".join(f"{a:>11}" for a in anchors))
    for r in rows:
        fractions = "".join(f"{r['roofline'][a]:>11.2f}" for a in anchors)
        print(f"{r['network']:<20}{r['optimizer']:>5}{r['batch']!s:>7}{fractions}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "chainrule" not in args.anchors:
        args.anchors.insert(0, "chainrule")
    report: dict[str, Any] = {
        "machine": machine(args),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    m = report["machine"]
    print(
        f"# {m['cpu']}, {m['cores']} cores; {args.threads} thread(s), {args.clock} clock, "
        f"median of {args.repeats}; load average {m['load_average']}"
    )
    print(f"# {', '.join(f'{k} {v}' for k, v in m['versions'].items())}; BLAS: {'; '.join(m['blas'])}")
    X, y = synthetic(args.samples)
    started = time.perf_counter()
    with threads(args.threads, with_torch="torch" in args.anchors):

        def sgemm_peak() -> dict[str, float]:
            size = 512 if args.smoke else 2048
            return roofline.sgemm_peak(size, args.repeats, "torch" in args.anchors, args.clock)

        peaks = [sgemm_peak()]  # and again at the end: the best of both is the peak
        if "agreement" in args.sections:
            report["agreement"] = agreement(args, X, y)
            print(
                "\nagreement after one epoch from the same weights (max |ΔW| against chainrule, "
                "relative to its step)"
            )
            for r in report["agreement"]:
                print(
                    f"{r['network']:<20}{r['optimizer']:>5}  {r['anchor']:<10}{r['relative_to_step']:>10.2e}"
                    f"  loss {r['loss']:.6f}"
                )
        if "train" in args.sections:
            _print_header(
                f"training throughput (samples/s; {args.samples} examples, {args.epochs} epoch(s) "
                "per repeat; ratios chainrule/other, > 1: chainrule faster)",
                args.anchors,
            )
            report["train"] = train(args, X, y)
        if "inference" in args.sections:
            _print_header("inference throughput (predict_proba, samples/s)", args.anchors)
            report["inference"] = inference(args, X, y)
        if "fashion" in args.sections:
            report["fashion"] = _fashion(args)
        if "scaling" in args.sections:
            anchors = [a for a in args.anchors if a in ("chainrule", "numpy", "torch")]
            report["scaling"] = scaling.scaling(anchors, args.repeats, args.clock, quick=args.smoke)
            _print_scaling(report["scaling"], anchors)
        if "estimators" in args.sections and "sklearn" not in args.anchors:
            print("\n# estimators section skipped: it needs the sklearn anchor (scikit-learn installed)")
        elif "estimators" in args.sections:
            report["estimators"] = estimators.compare(
                args.samples, args.estimator_epochs, args.repeats, args.clock
            )
            estimators.print_rows(report["estimators"])
        peaks.append(sgemm_peak())
    peak = report["sgemm_peak_gflops"] = {k: max(p[k] for p in peaks) for k in peaks[0]}
    print(
        "\n# sgemm peak (GFLOP/s, best of the start and the end of the run): "
        + ", ".join(f"{k} {v:.1f}" for k, v in peak.items())
    )
    for row in report.get("train", []):
        row["roofline"] = {a: g / max(peak.values()) for a, g in row["gflops"].items()}
    if "train" in report:
        _print_roofline(report["train"], max(peak.values()))
    if "memory" in args.sections:
        report["memory"] = memory_runs(args)
        _print_memory(report["memory"])
    if args.plot and "scaling" in report:
        scaling.plot(report["scaling"], report.get("memory", {}).get("by_size", []), args.plot)
        print(f"# plot written to {args.plot}")
    report["targets"] = targets(report.get("train", []), report.get("fashion"), report.get("estimators"))
    if report["targets"]:
        print("\ntargets (worst case over the rows each covers)")
        for t in report["targets"]:
            ceiling = ""
            if t.get("above_ceiling"):
                ceiling = f"  (goal above the BLAS ceiling on {t['above_ceiling']} of {t['rows']} rows)"
            print(
                f"{t['target']:<58}{t['value']:>7.3f}  goal {t['goal']:<5} "
                f"{'met' if t['met'] else 'NOT met'}{ceiling}"
            )
    report["seconds"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
        print(f"# JSON written to {args.json}")
    return 0


def _fashion(args: argparse.Namespace) -> dict | None:
    try:
        data = fashion.load(args.fashion_dir)
    except FileNotFoundError as e:
        print(f"\n# time to accuracy skipped: {e}")
        return None
    if args.smoke:
        data = {k: v[:2000] for k, v in data.items()}
    anchors = [a for a in args.anchors if a in ("chainrule", "torch")]
    target = 0.5 if args.smoke else 0.88
    result = fashion.time_to_accuracy(
        data,
        anchors,
        target=target,
        repeats=args.repeats,
        max_epochs=3 if args.smoke else 30,
        clock=args.clock,
    )
    print(f"\ntime to {target} test accuracy on Fashion-MNIST (784-256-128-10 ReLU, Adam 1e-3, batch 128)")
    for anchor, r in result.items():
        runs = ", ".join("-" if x is None else f"{x['seconds']:.2f}s/{x['epochs']}ep" for x in r["runs"])
        print(f"{anchor:<10} median {r['median_seconds']}  ({runs})")
    per_epoch = {a: r["median_seconds_per_epoch"] for a, r in result.items()}
    if all(per_epoch.get(a) for a in ("chainrule", "torch")):
        ours, theirs = per_epoch["chainrule"], per_epoch["torch"]
        print(f"per epoch (median): chainrule {ours:.3f} s, torch {theirs:.3f} s, ratio {ours / theirs:.2f}")
    return {"target": target, **result}


def _print_scaling(rows: dict, anchors: list[str]) -> None:
    for key in ("batch", "width", "depth"):
        print(f"\nms per training step against {key} (784-256-128-10 / 784-w-w-10 / 784-256×d-10; batch 128)")
        print(f"{key:>8}" + "".join(f"{a:>11}" for a in anchors) + f"{'GFLOP/s':>9}")
        for r in rows[key]:
            print(
                f"{r[key]:>8}"
                + "".join(f"{r[a] * 1e3:>11.3f}" for a in anchors)
                + f"{r['flops_per_step'] / r['chainrule'] / 1e9:>9.1f}"
            )


def _print_memory(result: dict) -> None:
    fashion_command = result.get("fashion_command", {})
    if "peak" in fashion_command:
        print(
            f"\npeak RSS of {fashion_command['command']}: {fashion_command['peak']:.0f} MiB "
            f"(its float32 images: {fashion_command['float32_images']:.0f} MiB)"
        )
    elif fashion_command:
        print(f"\nthe Fashion-MNIST command's memory is skipped: {fashion_command['skipped']}")
    print(f"\npeak RSS of a training run, MiB ({result['workload']}; a fresh process each)")
    print(f"{'':<12}{'after import':>14}{'with data':>11}{'peak':>9}{'training':>10}")
    for anchor, r in result["by_anchor"].items():
        print(
            f"{anchor:<12}{r['after_import']:>14.1f}{r['after_data']:>11.1f}{r['peak']:>9.1f}{r['training']:>10.1f}"
        )
    print(f"{'samples':<12}{'data':>14}{'with data':>11}{'peak':>9}{'training':>10}   (chainrule)")
    for r in result["by_size"]:
        print(
            f"{r['samples']:<12}{r['data']:>14.1f}{r['after_data']:>11.1f}{r['peak']:>9.1f}{r['training']:>10.1f}"
        )
