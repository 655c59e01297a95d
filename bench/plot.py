#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Plots of benchmark reports written by bench/run.sh and bench/consumer.sh.

Usage:
  bench/plot.py [options] REPORT.md [REPORT.md ...] [--consumer consumer-STAMP.md ...]
  bench/plot.py --latest                 the newest reports in bench/results/

REPORT.md is bench/results/<stamp>.md from bench/run.sh; --consumer takes
bench/results/consumer-<stamp>.md from bench/consumer.sh. Writes to --out (default docs/images/):
  bench-throughput.png  responses/s of (a)-(d) and confirmed msg/s of (e), (i), as bars, with the
                        ceilings (a), (e), (i) drawn across the paths they bound and each path's
                        target (docs/BENCHMARKS.md) marked over its bar
  bench-latency.png     p50 and p99 of each path, log scale ((e), (i): publish to confirm), with the
                        (d) p99 target
  bench-consumer.png    (only with --consumer) docs/s of the database ceiling (f) and the consumer
                        drain (g), the (g) target, and (h) seconds to empty when measured
Several reports are pooled: a bar is the median of every repetition of its path, the whisker
spans the smallest to the largest, and the dots are the repetitions. --compare draws one bar per
report instead (for before/after comparisons). Needs python3-matplotlib (Debian).
"""

import argparse
import glob
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PATHS = {  # run letter: short label
    "a": "(a) HTTP ceiling",
    "b": "(b) 429 path",
    "c": "(c) 400 path",
    "d": "(d) 202 path",
    "e": "(e) broker ceiling",
    "i": "(i) broker ceiling\nat (d)'s concurrency",
}
CEILINGS = {"a", "e", "i"}
# Targets from docs/BENCHMARKS.md, used when a report's check table does not state them.
DEFAULT_TARGETS = {"b/a": 0.80, "c/a": 0.70, "d/e": 0.85, "d/i": 0.85, "d_p99": 25.0}
CONSUMER_TARGETS = {"g/f": 0.80, "h": 5.0}


class ReportError(Exception):
    """A report that cannot be read or holds nothing to plot."""


def cells(line):
    """The cells of a Markdown table row (pipes escaped as \\| stay inside their cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip().replace("\\|", "|") for p in parts[1:-1]]


def number(text):
    m = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return float(m.group(0)) if m else None


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror}") from exc


class RunReport:
    """bench/run.sh's report: per path, the values of each repetition."""

    def __init__(self, path):
        self.path = path
        text = read(path)
        m = re.search(r"^# Benchmark run (\S+)", text, re.M)
        if not m:
            raise ReportError(f"{path}: not a bench/run.sh report (no '# Benchmark run' title)")
        self.stamp = m.group(1)
        m = re.search(r"^- commit: `([^`]+)`", text, re.M)
        self.commit = m.group(1) if m else "?"
        m = re.search(r"wrk -t\d+ -c(\d+)", text)
        self.connections = int(m.group(1)) if m else None
        self.rate = {}  # letter -> [responses/s or msg/s]
        self.p50 = {}
        self.p99 = {}
        self.targets = dict(DEFAULT_TARGETS)
        in_runs = False
        for line in text.splitlines():
            if not line.startswith("|"):
                in_runs = False
                continue
            row = cells(line)
            if row and row[0] == "run" and len(row) > 1 and row[1] == "req/s":
                in_runs = True
                continue
            if in_runs:
                self._run_row(row)
            else:
                self._check_row(row)
        if not self.rate:
            raise ReportError(f"{path}: no measured run in its table (all not run or failed?)")

    def _run_row(self, row):
        if len(row) < 5:
            return
        m = re.match(r"\(([a-z])\) ", row[0])
        if not m or m.group(1) not in PATHS:
            return
        letter = m.group(1)
        if row[1].startswith(("not run", "failed")):
            return
        rate = number(row[2])
        if rate is None:
            return
        self.rate.setdefault(letter, []).append(rate)
        for table, cell in ((self.p50, row[3]), (self.p99, row[4])):
            v = number(cell)
            if v is not None:
                table.setdefault(letter, []).append(v)

    def _check_row(self, row):
        if len(row) < 3:
            return
        target = number(row[2])
        if target is None:
            return
        m = re.match(r"\(([a-z])\)/\(([a-z])\)", row[0])
        if m:
            self.targets[f"{m.group(1)}/{m.group(2)}"] = target
        elif re.match(r"\(d\) p99 latency", row[0]):
            self.targets["d_p99"] = target


class ConsumerReport:
    """bench/consumer.sh's report: (f) docs/s per thread count, (g) docs/s, (h) seconds."""

    def __init__(self, path):
        self.path = path
        text = read(path)
        m = re.search(r"^# activity-consumer benchmark (\S+)", text, re.M)
        if not m:
            raise ReportError(f"{path}: not a bench/consumer.sh report "
                              "(no '# activity-consumer benchmark' title)")
        self.stamp = m.group(1)
        m = re.search(r"^- commit: `?([0-9a-f]+)", text, re.M)
        self.commit = m.group(1) if m else "?"
        m = re.search(r"^- consumer: (\d+) workers", text, re.M)
        self.workers = int(m.group(1)) if m else None
        self.f = {}  # threads -> [docs/s]
        self.g = []
        self.g_steady = []
        self.h = []
        self.targets = dict(CONSUMER_TARGETS)
        for line in text.splitlines():
            if not line.startswith("|"):
                continue
            row = cells(line)
            if len(row) < 3 or row[1].startswith("failed"):
                continue
            m = re.fullmatch(r"f(\d+)_\d+", row[0])
            if m and "docs/s" in row[1]:
                self.f.setdefault(int(m.group(1)), []).append(number(row[1]))
            elif re.fullmatch(r"g\d+", row[0]) and "docs/s" in row[1]:
                self.g.append(number(row[1]))
                s = re.search(r"steady rate \(10-90%\) (\d+(?:\.\d+)?) docs/s", row[2])
                if s:
                    self.g_steady.append(float(s.group(1)))
            elif re.fullmatch(r"h\d+", row[0]) and "s to empty" in row[1]:
                self.h.append(number(row[1]))
            elif row[0].startswith("(g) drain / (f) ceiling at") and "thread" in row[0] \
                    and number(row[2]) is not None and "1 thread" not in row[0]:
                self.targets["g/f"] = number(row[2])
            elif row[0].startswith("(h) queue empty") and number(row[2]) is not None:
                self.targets["h"] = number(row[2])
        if not (self.f or self.g or self.h):
            raise ReportError(f"{path}: no measured (f), (g) or (h) row")


# ---- drawing -----------------------------------------------------------------------------------

def pooled(reports, attr):
    """{letter: [values of every report]} of a RunReport table."""
    out = {}
    for r in reports:
        for k, vals in getattr(r, attr).items():
            out.setdefault(k, []).extend(vals)
    return out


def fmt_rate(v):
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def fmt_ms(v):
    return f"{v:.2f}" if v < 1 else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
CEILING_COLOR = "#9e9e9e"


def draw_bars(ax, labels, series, fmt, ceiling_keys=(), log=False):
    """Grouped bars. labels: [(key, text)]; series: [(name, {key: [values]})]. A bar is the
    median, the whisker spans min..max, dots are the values. Returns {key: (x_left, x_right)}
    of each group, and the median of each key of the first series."""
    n = len(series)
    width = 0.8 / n
    spans, medians = {}, {}
    for gi, (key, _) in enumerate(labels):
        spans[key] = (gi - 0.4, gi + 0.4)
        for si, (name, data) in enumerate(series):
            vals = [v for v in data.get(key, []) if v is not None and (v > 0 or not log)]
            if not vals:
                continue
            x = gi - 0.4 + width * (si + 0.5)
            med = statistics.median(vals)
            if si == 0:
                medians[key] = med
            ceiling = key in ceiling_keys
            color = CEILING_COLOR if ceiling and n == 1 else PALETTE[si % len(PALETTE)]
            ax.bar(x, med, width * 0.9, color=color, alpha=0.85, edgecolor="black",
                   linewidth=0.6, hatch="//" if ceiling else None, zorder=2,
                   label=name if gi == next((i for i, (k, _) in enumerate(labels)
                                             if data.get(k)), 0) and n > 1 else None)
            if len(vals) > 1:
                ax.plot([x, x], [min(vals), max(vals)], color="black", linewidth=1, zorder=3)
                ax.scatter([x] * len(vals), vals, s=9, color="black", zorder=4)
            ax.annotate(fmt(med), (x, max(vals)), textcoords="offset points", xytext=(0, 3),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([t for _, t in labels], fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    return spans, medians


def mark(ax, span, y, text, color, style="--"):
    """A horizontal marker over one group (a target), labelled above its left end."""
    ax.plot(span, [y, y], color=color, linestyle=style, linewidth=1.6, zorder=5)
    ax.annotate(text, (span[0], y), textcoords="offset points", xytext=(1, 2), fontsize=7,
                color=color, ha="left", va="bottom", zorder=6,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                      "alpha": 0.8})


def empty(ax, what):
    ax.text(0.5, 0.5, f"{what}\nnot measured in these reports", ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def subtitle(reports):
    stamps = ", ".join(r.stamp for r in reports)
    commits = ", ".join(sorted({r.commit for r in reports}))
    return f"{stamps} (commit {commits})"


def series_of(reports, attr, compare):
    if compare:
        return [(r.stamp, getattr(r, attr)) for r in reports]
    return [("all", pooled(reports, attr))]


def plot_throughput(plt, reports, compare, out):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [3, 3]})
    targets = reports[0].targets
    conc = reports[0].connections
    labels_i = PATHS["i"].replace("(d)'s concurrency", f"{conc} in flight") if conc else PATHS["i"]

    for ax, keys, title in (
            (left, ["a", "b", "c"], "Paths that never reach the broker (responses/s)"),
            (right, ["d", "e", "i"], "202 path against the broker (responses/s, msg/s)")):
        series = series_of(reports, "rate", compare)
        labels = [(k, labels_i if k == "i" else PATHS[k]) for k in keys
                  if any(s.get(k) for _, s in series)]
        ax.set_title(title, fontsize=10)
        if not labels:
            empty(ax, ", ".join(f"({k})" for k in keys))
            continue
        spans, med = draw_bars(ax, labels, series, fmt_rate, CEILINGS)
        ax.set_ylim(0, max(max(v for v in s.get(k, [0]) or [0]) for _, s in series
                           for k, _ in labels) * 1.18)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt_rate(v)))
        if compare:
            continue  # one line per report would hide the bars: the ceilings are the grey bars
        # The ceilings across the paths they bound, and each path's target over its bar.
        if "a" in med:
            ax.axhline(med["a"], color="dimgray", linestyle=":", linewidth=1.2, zorder=1)
            for k, key in (("b", "b/a"), ("c", "c/a")):
                if k in spans:
                    mark(ax, spans[k], targets[key] * med["a"],
                         f"target {targets[key]:.2f} x (a)", "firebrick")
        for c, key, color in (("e", "d/e", "firebrick"), ("i", "d/i", "darkorange")):
            if c in med:
                ax.axhline(med[c], color="dimgray", linestyle=":", linewidth=1.2, zorder=1)
                if "d" in spans:
                    mark(ax, spans["d"], targets[key] * med[c], f"{targets[key]:.2f} x ({c})", color)
    if compare:
        right.legend(fontsize=8, loc="upper right")
    fig.suptitle("activity-api throughput against the machine's ceilings (hatched)", fontsize=11)
    fig.text(0.5, 0.01, subtitle(reports) + ("" if compare else
             "; bar = median, whisker = min..max of the repetitions; dotted lines: the ceilings,"
             " dashed: targets"), ha="center", fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    save(fig, out)


def plot_latency(plt, reports, compare, out):
    fig, ax = plt.subplots(figsize=(11, 4.6))
    p50 = series_of(reports, "p50", compare)
    p99 = series_of(reports, "p99", compare)
    conc = reports[0].connections
    keys = [k for k in PATHS if any(s.get(k) for _, s in p50 + p99)]
    if not keys:
        raise ReportError("no latency figures in these reports")
    names = {k: PATHS[k].replace("\n", " ") for k in keys}
    if conc and "i" in names:
        names["i"] = f"(i) broker ceiling at {conc} in flight"
    for k in ("e", "i"):
        if k in names:
            names[k] += "\n(publish to confirm)"
    labels = [(k, names[k]) for k in keys]
    # p50 and p99 side by side in each group: as two "series" per report.
    series = []
    for (n50, d50), (_, d99) in zip(p50, p99):
        tag = "" if not compare else f" {n50}"
        series.append((f"p50{tag}", d50))
        series.append((f"p99{tag}", d99))
    spans, med = draw_bars(ax, labels, series, fmt_ms, log=True)
    ax.set_ylabel("milliseconds (log scale)")
    target = reports[0].targets["d_p99"]
    if "d" in spans:
        mark(ax, spans["d"], target, f"(d) p99 target {target:g} ms", "firebrick")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.set_title("Latency per path: p50 and p99 (wrk --latency; (e), (i): the broker's "
                 "publish-to-confirm)", fontsize=10)
    fig.text(0.5, 0.01, subtitle(reports) + "; bar = median, whisker = min..max of the repetitions",
             ha="center", fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, out)


def plot_consumer(plt, reports, compare, out):
    has_h = any(r.h for r in reports)
    fig, axes = plt.subplots(1, 2 if has_h else 1, figsize=(11 if has_h else 8, 4.6),
                             gridspec_kw={"width_ratios": [4, 1]} if has_h else None)
    ax = axes[0] if has_h else axes
    threads = sorted({t for r in reports for t in r.f})
    workers = sorted({r.workers for r in reports if r.workers})

    def data(r_list):
        d = {}
        for r in r_list:
            for t, vals in r.f.items():
                d.setdefault(f"f{t}", []).extend(vals)
            d.setdefault("g", []).extend(r.g)
            d.setdefault("gs", []).extend(r.g_steady)
            d.setdefault("h", []).extend(r.h)
        return d

    series = ([(r.stamp, data([r])) for r in reports] if compare else [("all", data(reports))])
    labels = [(f"f{t}", f"(f) database ceiling\n{t} thread{'s' if t > 1 else ''}")
              for t in threads]
    labels += [(k, t) for k, t in (("g", "(g) consumer drain\n(start to empty)"),
                                   ("gs", "(g) steady drain\n(10-90 %)"))
               if any(s.get(k) for _, s in series)]
    if not labels:
        empty(ax, "(f), (g)")
    else:
        spans, med = draw_bars(ax, labels, series, fmt_rate,
                               ceiling_keys={k for k, _ in labels if k.startswith("f")})
        ax.set_ylim(0, max(v for _, s in series for k, _ in labels for v in s.get(k, [0]) or [0])
                    * 1.18)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt_rate(v)))
        ax.set_ylabel("documents per second")
        target = reports[0].targets["g/f"]
        if not compare and len(workers) == 1 and f"f{workers[0]}" in med:
            ceiling = med[f"f{workers[0]}"]
            ax.axhline(ceiling, color="dimgray", linestyle=":", linewidth=1.2, zorder=1)
            if "g" in spans:  # the steady rate is information only
                mark(ax, spans["g"], target * ceiling,
                     f"target {target:.2f} x (f) at {workers[0]}", "firebrick")
        if compare:
            ax.legend(fontsize=8, loc="upper right")
    ax.set_title("activity-consumer: drain rate against the database ceiling"
                 + (f" ({', '.join(map(str, workers))} workers)" if workers else ""), fontsize=10)
    if has_h:
        hax = axes[1]
        _, _ = draw_bars(hax, [("h", "(h) queue empty\nafter the load")], series,
                         lambda v: f"{v:.1f} s")
        hax.axhline(reports[0].targets["h"], color="firebrick", linestyle="--", linewidth=1.4)
        hax.set_ylabel("seconds")
        hax.set_title(f"(h) target <= {reports[0].targets['h']:g} s", fontsize=10)
    fig.text(0.5, 0.01, subtitle(reports) + "; hatched: the ceiling", ha="center", fontsize=7,
             color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, out)


def save(fig, out):
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def newest(pattern):
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "results", pattern)))
    return files[-1] if files else None


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Example: bench/plot.py bench/results/20261126T120000Z.md "
               "--consumer bench/results/consumer-20261126T121000Z.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="*", metavar="REPORT.md",
                        help="bench/run.sh reports (bench/results/<stamp>.md)")
    parser.add_argument("--consumer", action="append", default=[], metavar="FILE",
                        help="a bench/consumer.sh report (consumer-<stamp>.md); may be repeated")
    parser.add_argument("--latest", action="store_true",
                        help="use the newest run report (and, without --consumer, the newest "
                             "consumer report) in bench/results/")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"),
                        help="output directory (default: docs/images/ of the checkout)")
    parser.add_argument("--prefix", default="bench-", help="file name prefix (default: bench-)")
    parser.add_argument("--compare", action="store_true",
                        help="one bar per report instead of pooling the reports")
    args = parser.parse_args()

    reports, consumer = list(args.reports), list(args.consumer)
    if args.latest:
        run = newest("[0-9]*T*Z.md")
        if run is None and not reports:
            parser.error("--latest: no bench/run.sh report in bench/results/")
        if run and run not in reports:
            reports.append(run)
        if not consumer:
            c = newest("consumer-*.md")
            if c:
                consumer.append(c)
    if not reports and not consumer:
        parser.error("give at least one report (or --latest)")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot.py: error: matplotlib is not installed (apt-get install python3-matplotlib)",
              file=sys.stderr)
        return 1
    try:
        runs = [RunReport(p) for p in reports]
        cons = [ConsumerReport(p) for p in consumer]
        os.makedirs(args.out, exist_ok=True)
        for r in runs + cons:
            print(f"read {os.path.relpath(r.path)} ({r.stamp}, commit {r.commit})")
        if runs:
            plot_throughput(plt, runs, args.compare,
                            os.path.join(args.out, args.prefix + "throughput.png"))
            plot_latency(plt, runs, args.compare,
                         os.path.join(args.out, args.prefix + "latency.png"))
        if cons:
            plot_consumer(plt, cons, args.compare,
                          os.path.join(args.out, args.prefix + "consumer.png"))
    except ReportError as exc:
        print(f"plot.py: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"plot.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
