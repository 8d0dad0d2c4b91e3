"""The zoo table of docs/speed.md: tapegrad against PyTorch 1.13 on every model of models/.

    /usr/bin/python3 tools/bench_zoo.py [--tg build/tg] [--reps 3] [--models a,b] [--write-doc docs/speed.md]
    /usr/bin/python3 tools/bench_zoo.py --spec my.txt [--spec other.txt ...]   # models of your own
    make bench-train        # prints the tables
    make speed-doc          # also rewrites the generated part of docs/speed.md

For every model and every setting (training at batch 64 with 1 and with 2 threads, eval-mode
inference at batch 1 and 64 with 1 thread) it runs `tg bench --filter CASE --threads T` and
`tools/bench_train_torch.py --case CASE --threads T` alternately (A B A B A B: a busy machine
slows both sides alike), each case in its own process so max RSS is that case's own, and keeps the
best images/s of the repetitions (the least disturbed run) and the smallest max RSS. Ratios are
tapegrad / PyTorch images/s and tapegrad / PyTorch max RSS. The twin's parameters and MACs per
image must equal `tg summary`'s, or the run stops: a ratio against a different network would be
silently wrong.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_train_torch import spec_name, zoo_names  # noqa: E402  (the same models/ reader, no torch import)

SETTINGS = [  # (column key, case template, threads)
    ("train_t1", "train_{m}", 1),
    ("train_t2", "train_{m}", 2),
    ("infer_b1", "infer_{m}_b1", 1),
    ("infer_b64", "infer_{m}_b64", 1),
]
BEGIN, END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"
MIB = 1024.0 * 1024.0


def run_json(cmd, case):
    """The JSON line named `case` that cmd prints; exits with cmd's stderr when there is none."""
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("name") == case:
                return d
    sys.exit(f"bench_zoo: {' '.join(cmd)}: no result for {case} (exit {p.returncode})\n{p.stderr.strip()}")


def tg_totals(tg, path):
    out = subprocess.run([tg, "summary", path, "--batch", "1"],
                         capture_output=True, text=True, check=True).stdout
    get = lambda key: int(next(line for line in out.splitlines() if line.startswith(key)).split(":")[1])
    return get("Total params"), get("Total MACs")


def measure(tg, python, model, reps, log, spec=None, seconds=0.3):
    """{setting: {"tg": best tg line, "torch": best torch line}} for one model (a zoo name, or the
    spec file `spec` when given)."""
    res = {}
    for key, template, threads in SETTINGS:
        case = template.format(m=model)
        runs = {"tg": [], "torch": []}
        own = ["--model", spec] if spec else []
        for _ in range(reps):
            runs["tg"].append(run_json([tg, "bench", "--filter", case, "--threads", str(threads),
                                        "--seconds", str(seconds)] + own, case))
            runs["torch"].append(run_json([python, os.path.join(HERE, "bench_train_torch.py"), "--case", case,
                                           "--threads", str(threads), "--seconds", str(seconds)] +
                                          (["--spec", spec] if spec else []), case))
        best = {}
        for side, lines in runs.items():
            b = dict(max(lines, key=lambda d: d["img_per_s"]))
            b["max_rss_bytes"] = min(d["max_rss_bytes"] for d in lines)
            if side == "torch":
                b["import_rss_bytes"] = min(d["import_rss_bytes"] for d in lines)
            best[side] = b
        log(f"{case} t{threads}: tapegrad {best['tg']['img_per_s']:.0f} img/s, "
            f"PyTorch {best['torch']['img_per_s']:.0f} img/s "
            f"(runs {[d['img_per_s'] for d in runs['tg']]} / {[d['img_per_s'] for d in runs['torch']]})")
        res[key] = best
    return res


def machine():
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def commit():
    try:
        h = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return h + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def tables(results, totals, reps, load, how="`make speed-doc`", seconds=0.3):
    r = lambda a, b: f"{a / b:.2f}" if b else "-"
    out = []
    out.append(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC at commit {commit()} by "
               f"{how}; {machine()}; load average {load[0]:.1f} → {load[1]:.1f} (other work "
               f"shared the machine). Best of {reps} interleaved runs per cell, each the fastest call of "
               f"at least {seconds:g} s of them; PyTorch "
               f"{results[next(iter(results))]['train_t1']['torch']['impl'].split()[-1]}.")
    out.append("")
    out.append("**Training** (one SGD-momentum step at batch 64, images/s; ratio = tapegrad / PyTorch)")
    out.append("")
    out.append("| model | params | MACs/img | tapegrad 1 thr | PyTorch 1 thr | ratio | tapegrad 2 thr | PyTorch 2 thr | ratio | tapegrad 2/1 thr |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, res in results.items():
        a, b = res["train_t1"], res["train_t2"]
        out.append(f"| {m} | {totals[m][0]:,} | {totals[m][1] / 1e6:.1f} M | {a['tg']['img_per_s']:.0f} | "
                   f"{a['torch']['img_per_s']:.0f} | {r(a['tg']['img_per_s'], a['torch']['img_per_s'])} | "
                   f"{b['tg']['img_per_s']:.0f} | {b['torch']['img_per_s']:.0f} | "
                   f"{r(b['tg']['img_per_s'], b['torch']['img_per_s'])} | {r(b['tg']['img_per_s'], a['tg']['img_per_s'])} |")
    out.append("")
    out.append("**Inference** (eval-mode forward without a graph, one thread, images/s)")
    out.append("")
    out.append("| model | tapegrad b1 | PyTorch b1 | ratio | tapegrad b64 | PyTorch b64 | ratio |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for m, res in results.items():
        a, b = res["infer_b1"], res["infer_b64"]
        out.append(f"| {m} | {a['tg']['img_per_s']:.0f} | {a['torch']['img_per_s']:.0f} | "
                   f"{r(a['tg']['img_per_s'], a['torch']['img_per_s'])} | {b['tg']['img_per_s']:.0f} | "
                   f"{b['torch']['img_per_s']:.0f} | {r(b['tg']['img_per_s'], b['torch']['img_per_s'])} |")
    out.append("")
    out.append("**Memory** (MiB; max RSS of a process that ran one case; tape peak = the arena's high-water mark)")
    out.append("")
    out.append("(PyTorch's max RSS includes about a quarter GiB of libraries; \"above import\" subtracts what the "
               "process held after `import torch`, before the model.)")
    out.append("")
    out.append("| model | train: tapegrad max RSS | tape peak | PyTorch max RSS | above import | ratio "
               "| infer b64: tapegrad max RSS | tape peak | PyTorch max RSS | above import | ratio |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, res in results.items():
        cells = []
        for key in ("train_t1", "infer_b64"):
            t, p = res[key]["tg"], res[key]["torch"]
            cells += [f"{t['max_rss_bytes'] / MIB:.0f}", f"{t['tape_peak_bytes'] / MIB:.0f}",
                      f"{p['max_rss_bytes'] / MIB:.0f}", f"{(p['max_rss_bytes'] - p['import_rss_bytes']) / MIB:.0f}",
                      r(t["max_rss_bytes"], p["max_rss_bytes"])]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tg", default=os.path.join(ROOT, "build", "tg"))
    ap.add_argument("--python", default=sys.executable, help="the Python with torch (default: this one)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", help="comma list (default: every models/*.txt)")
    ap.add_argument("--spec", action="append", metavar="FILE",
                    help="a model spec of your own instead of the zoo (repeatable; named after the file)")
    ap.add_argument("--write-doc", metavar="FILE", help=f"replace the text between {BEGIN} and {END} in FILE")
    ap.add_argument("--seconds", type=float, default=0.3,
                    help="each side times each case for at least this long per run (a busy 2-core machine "
                         "leaves the 2-thread cases noisy at 0.3 s)")
    a = ap.parse_args()
    if a.spec:
        paths = {spec_name(p): os.path.abspath(p) for p in a.spec}
        models = list(paths)
    else:
        models = a.models.split(",") if a.models else zoo_names()
        unknown = set(models) - set(zoo_names())
        if unknown:
            sys.exit(f"bench_zoo: unknown model(s) {', '.join(sorted(unknown))} (models/: {', '.join(zoo_names())})")
        paths = {m: os.path.join(ROOT, "models", m + ".txt") for m in models}
    log = lambda s: print(s, file=sys.stderr, flush=True)
    load0 = os.getloadavg()[0]
    results, totals = {}, {}
    for m in models:
        totals[m] = tg_totals(a.tg, paths[m])
        results[m] = measure(a.tg, a.python, m, a.reps, log, paths[m] if a.spec else None, a.seconds)
        twin = results[m]["train_t1"]["torch"]
        if (twin["params"], twin["macs"]) != totals[m]:
            sys.exit(f"bench_zoo: {m}: the PyTorch twin has {twin['params']} parameters and {twin['macs']} MACs/img, "
                     f"tg summary {totals[m][0]} and {totals[m][1]}")
    how = "`tools/bench_zoo.py --spec`" if a.spec else "`make speed-doc`"
    text = tables(results, totals, a.reps, (load0, os.getloadavg()[0]), how, a.seconds)
    print(text, end="")
    if a.write_doc:
        doc = open(a.write_doc).read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"bench_zoo: {a.write_doc} has no {BEGIN} ... {END} block")
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        open(a.write_doc, "w").write(f"{head}{BEGIN}\n{text}{END}{tail}")
        log(f"bench_zoo: wrote the tables into {a.write_doc}")


if __name__ == "__main__":
    main()
