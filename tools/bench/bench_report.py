#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns scripts/bench's raw output into a markdown report and PNG plots.

    bench_report.py RAW OUTDIR

RAW holds the guest's lines (tools/bench/bench-guest.sh): "R ROUND CONFIG
CASE VALUE", "S ROUND CONFIG randread_samples_us V...", "# comment".
Writes OUTDIR/results.md (medians over the rounds with the min-max
spread, the issue's target ratios) and, when matplotlib is there,
OUTDIR/throughput.png, OUTDIR/latency_cdf.png and OUTDIR/dispatch.png.
Prints results.md.
"""
import collections
import statistics
import sys

CONFIGS = ["native", "c", "c-w1", "rs-direct", "rs-buffered", "rs-bufwin", "rs-ahead",
           "rs-bufwin-w1"]
LABELS = {
    "native": "native EROFS (loop)",
    "c": "C",
    "c-w1": "C, 1 worker",
    "rs-direct": "Rust direct",
    "rs-buffered": "Rust buffered",
    "rs-bufwin": "Rust buffered+window",
    "rs-ahead": "Rust buffered+window+read-ahead",
    "rs-bufwin-w1": "Rust buffered+window, 1 worker",
}
CASES = [
    ("seq_cold_MiBps", "cold sequential read (MiB/s)", True),
    ("seq_warm_MiBps", "warm re-read after drop_caches (MiB/s)", True),
    ("randread_p50_us", "cold random 4 KiB read p50 (µs)", False),
    ("randread_p99_us", "cold random 4 KiB read p99 (µs)", False),
    ("randread_mean_us", "cold random 4 KiB read mean (µs)", False),
    ("small_files_per_s", "small files cold (files/s)", True),
]


def load(path):
    figs = collections.defaultdict(list)  # (config, case) -> [values]
    samples = collections.defaultdict(list)  # config -> [latency]
    comments = []
    for line in open(path, encoding="utf-8", errors="replace"):
        w = line.split()
        if not w:
            continue
        if w[0] == "R" and len(w) == 5:
            try:
                figs[(w[2], w[3])].append(float(w[4]))
            except ValueError:
                figs[(w[2], w[3] + "_ERR")].append(1)
        elif w[0] == "S" and len(w) > 4:
            samples[w[2]].extend(float(x) for x in w[4:])
        elif w[0] == "#":
            comments.append(line.rstrip("\n"))
    return figs, samples, comments


def med(v):
    return statistics.median(v) if v else None


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def cell(v):
    if not v:
        return "–"
    if len(v) == 1:
        return fmt(v[0])
    return f"{fmt(med(v))} ({fmt(min(v))}–{fmt(max(v))})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def report(figs, samples, comments):
    configs = [c for c in CONFIGS if any(k[0] == c for k in figs)]
    rounds = max((len(v) for v in figs.values()), default=0)
    out = []
    out.append(f"Medians of {rounds} round(s), spread (min–max) in brackets.\n")
    out.append("| case | " + " | ".join(LABELS[c] for c in configs) + " |")
    out.append("|---|" + "---:|" * len(configs))
    for case, label, _ in CASES:
        out.append(f"| {label} | " + " | ".join(cell(figs.get((c, case))) for c in configs) + " |")
    errs = sorted({(k[0], k[1][:-4]) for k in figs if k[1].endswith("_ERR")})
    if errs:
        out.append("\nFailed cases: " + ", ".join(f"{c} {k}" for c, k in errs))

    # Dispatch cost per module.
    ns = sorted({int(k[1].split("_")[-1]) for k in figs if k[1].startswith("dispatch_idle_")})
    if ns:
        out.append("\nDispatch (tools/bench/dispatch_bench): operations per second with N READs pending, "
                   "and the cost per operation (µs).\n")
        out.append("| N pending | C poll()+read() /s | Rust poll()+read() /s | C read() after restore /s | Rust read() after restore /s | C µs/op (idle) | Rust µs/op (idle) |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|")
        for n in ns:
            ci, ri = figs.get(("c", f"dispatch_idle_{n}")), figs.get(("rs-direct", f"dispatch_idle_{n}"))
            cr, rr = figs.get(("c", f"dispatch_restore_{n}")), figs.get(("rs-direct", f"dispatch_restore_{n}"))
            cost = lambda v: fmt(1e6 / med(v)) if v and med(v) else "–"
            out.append(f"| {n} | {cell(ci)} | {cell(ri)} | {cell(cr)} | {cell(rr)} | {cost(ci)} | {cost(ri)} |")

    dev = sorted({k[1] for k in figs if k[1].startswith("devnode_")})
    if dev:
        out.append("\nDevnode operations (tools/bench/devnode_bench), per second.\n")
        out.append("| case | C | Rust | Rust/C |")
        out.append("|---|---:|---:|---:|")
        for k in dev:
            c, r = figs.get(("c", k)), figs.get(("rs-direct", k))
            q = ratio(med(r), med(c))
            out.append(f"| {k[8:]} | {cell(c)} | {cell(r)} | {fmt(q) if q is None else f'{q:.2f}'} |")

    # The targets.
    m = lambda c, k: med(figs.get((c, k), []))
    t = []
    for rs in ("rs-bufwin", "rs-ahead"):
        q = ratio(m(rs, "seq_cold_MiBps"), m("c", "seq_cold_MiBps"))
        t.append((f"cold sequential: {LABELS[rs]} / C ≥ 3.0", q, q is not None and q >= 3.0))
    q = ratio(m("rs-direct", "seq_cold_MiBps"), m("c", "seq_cold_MiBps"))
    t.append(("cold sequential: Rust direct / C ≥ 1.0", q, q is not None and q >= 1.0))
    for rs in ("rs-direct", "rs-buffered", "rs-bufwin", "rs-ahead"):
        q = ratio(m(rs, "randread_p50_us"), m("c", "randread_p50_us"))
        t.append((f"random 4 KiB p50: {LABELS[rs]} / C ≤ 1.0", q, q is not None and q <= 1.0))
    for rs in ("rs-direct", "rs-buffered", "rs-bufwin", "rs-ahead"):
        q = ratio(m(rs, "seq_warm_MiBps"), m("native", "seq_warm_MiBps"))
        t.append((f"warm re-read: {LABELS[rs]} / native ≥ 0.95", q, q is not None and q >= 0.95))
    if ns:
        lo, hi = min(ns), max(ns)
        for c in ("c", "rs-direct"):
            a, b = m(c, f"dispatch_idle_{lo}"), m(c, f"dispatch_idle_{hi}")
            q = ratio(a, b)  # cost ratio = rate(lo) / rate(hi)
            t.append((f"dispatch cost, {hi} pending / {lo} pending, {LABELS[c]} ≤ 1.2", q,
                      q is not None and q <= 1.2))
    for w1, wn in (("c-w1", "c"), ("rs-bufwin-w1", "rs-bufwin")):
        q = ratio(m(wn, "seq_cold_MiBps"), m(w1, "seq_cold_MiBps"))
        t.append((f"cold sequential: N workers / 1 worker, {LABELS[wn]} (information)", q, None))
    # The kernel's share: both with the single-threaded daemon (one worker,
    # as the peer daemons serve), Rust's fast mode against C.
    for k, what in (("seq_cold_MiBps", "cold sequential"), ("small_files_per_s", "small files cold")):
        q = ratio(m("rs-bufwin-w1", k), m("c-w1", k))
        t.append((f"{what}, 1 worker: Rust buffered+window / C (the kernel's share; information)", q, None))
    out.append("\nTargets (issue 11), ratios of medians:\n")
    out.append("| target | ratio | met |")
    out.append("|---|---:|---|")
    for name, q, ok in t:
        out.append(f"| {name} | {'–' if q is None else f'{q:.2f}'} | {'–' if ok is None or q is None else ('yes' if ok else 'no')} |")
    if comments:
        out.append("\nRun notes:\n")
        out.append("```")
        out.extend(comments)
        out.append("```")
    return "\n".join(out) + "\n", configs, ns


def plots(figs, samples, configs, ns, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# no matplotlib: no plots (scripts/bench installs python3-matplotlib)", file=sys.stderr)
        return []
    made = []

    def save(fig, name, ax=None):
        """Grid and legend on AX (if any), then FIG written as OUTDIR/NAME."""
        if ax is not None:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{outdir}/{name}", dpi=110)
        plt.close(fig)
        made.append(name)

    # Throughput bars with min-max error bars.
    cases = [c for c in CASES if c[2]]
    fig, axes = plt.subplots(1, len(cases), figsize=(5 * len(cases), 4.5))
    for ax, (case, label, _) in zip(axes, cases):
        xs, ys, lo, hi = [], [], [], []
        for c in configs:
            v = figs.get((c, case))
            if not v:
                continue
            xs.append(LABELS[c])
            ys.append(med(v))
            lo.append(med(v) - min(v))
            hi.append(max(v) - med(v))
        ax.bar(range(len(xs)), ys, yerr=[lo, hi], capsize=3,
               color=["#888888" if x.startswith("native") else "#4477aa" if x.startswith("C") else "#cc6633" for x in xs])
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, rotation=35, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
    save(fig, "throughput.png")
    # Latency CDF of every random read of every round.
    if samples:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for c in configs:
            v = sorted(samples.get(c, []))
            if not v:
                continue
            ax.plot(v, [(i + 1) / len(v) for i in range(len(v))], label=LABELS[c])
        ax.set_xscale("log")
        ax.set_xlabel("latency of one cold 4 KiB pread (µs, log)")
        ax.set_ylabel("fraction of reads")
        save(fig, "latency_cdf.png", ax)
    # Dispatch cost vs pending.
    if ns:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for c, kind, style in (("c", "idle", "o-"), ("rs-direct", "idle", "s-"),
                               ("c", "restore", "o--"), ("rs-direct", "restore", "s--")):
            xs, ys = [], []
            for n in ns:
                v = figs.get((c, f"dispatch_{kind}_{n}"))
                if v and med(v):
                    xs.append(n)
                    ys.append(1e6 / med(v))
            if xs:
                what = "poll()+read(), nothing new" if kind == "idle" else "read() after restore"
                ax.plot(xs, ys, style, label=f"{LABELS[c]}: {what}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("READ requests pending")
        ax.set_ylabel("µs per operation (log)")
        save(fig, "dispatch.png", ax)
    return made


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, outdir = sys.argv[1], sys.argv[2]
    figs, samples, comments = load(raw)
    md, configs, ns = report(figs, samples, comments)
    made = plots(figs, samples, configs, ns, outdir)
    if made:
        md += "\nPlots: " + ", ".join(f"[{p}]({p})" for p in made) + "\n"
    with open(f"{outdir}/results.md", "w", encoding="utf-8") as f:
        f.write(md)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
