"""The ``binfer`` command: binfer's analyses from the shell.

Subcommands mirror the API: ``pool`` (pooled_proportion), ``homogeneity`` (homogeneity_test),
``meta`` (meta_proportion / meta_two_arm), ``oe`` (observed_vs_expected), ``lrt``
(binomial_vs_poisson_binomial), ``pmf`` (the exact core), ``datasets`` (the bundled data).
Input is a CSV file (Parquet when pyarrow is installed), ``-`` for standard input, or
``--dataset NAME``; output an aligned table, ``--json`` or ``--csv``. Bad input exits with
code 2 and a one-line message naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ._data import from_csv

__all__ = ["main"]


class _Fail(Exception):
    """A user error: printed as one line, exit code 2."""


def _read(args) -> pd.DataFrame:
    if args.dataset is not None:
        from . import datasets

        return datasets.load(args.dataset)
    if args.file is None:
        raise _Fail("no input: give a CSV file, '-' for standard input, or --dataset NAME")
    if args.file == "-":
        text = sys.stdin.read()
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise _Fail(f"standard input: not a readable CSV ({exc})") from exc
        return from_csv(frame, "standard input", text=text)
    path = Path(args.file)
    if not path.exists():
        raise _Fail(f"{args.file}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise _Fail(f"{args.file}: reading Parquet needs pyarrow ({exc})") from exc
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise _Fail(f"{args.file}: not a readable CSV file ({exc})") from exc
    # errors about a row then say its line in the file, as well as its index label
    return from_csv(frame, args.file, path=path)


def _plain(value):
    """A JSON-ready Python value: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _emit(frame: pd.DataFrame, args, title: str | None = None) -> None:
    if args.json:
        print(json.dumps([{key: _plain(value) for key, value in row.items()}
                          for row in frame.to_dict(orient="records")], indent=2))
    elif args.csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        if title:
            print(title)
        print(frame.to_string(index=False))


def _emit_result(result, args) -> None:
    if args.json or args.csv:
        _emit(result.to_frame(), args)
    else:
        print(repr(result))


def _input_options(p: argparse.ArgumentParser, *, two_arm: bool = False) -> None:
    p.add_argument("file", nargs="?", help="CSV (or Parquet) file; '-' reads standard input")
    p.add_argument("--dataset", metavar="NAME",
                   help="use a bundled dataset (see `binfer datasets`)")
    p.add_argument("--events", default="events", help="events column (default: events)")
    p.add_argument("--trials", default="trials", help="trials column (default: trials)")
    p.add_argument("--group", default=None,
                   help="group label column (default: the column 'group' if present)")
    p.add_argument("--outcome", default=None,
                   help="0/1 outcome column: one row per subject, aggregated by --group")
    if two_arm:
        p.add_argument("--two-arm", action="store_true",
                       help="two-arm studies (columns events_treat, trials_treat, events_ctrl, "
                            "trials_ctrl, or the --*-treat/--*-ctrl options)")
        for arm in ("treat", "ctrl"):
            for what in ("events", "trials"):
                p.add_argument(f"--{what}-{arm}", default=f"{what}_{arm}",
                               help=f"{what} column of the {arm} arm (default: {what}_{arm})")
        p.add_argument("--study", default=None,
                       help="study label column (two-arm; default: the column 'study' if present)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV")


def _pool(args) -> None:
    from .pooling import pooled_proportion

    data = _read(args)
    _emit_result(pooled_proportion(data, events=args.events, trials=args.trials,
                                   method=args.method, conf_level=args.conf_level,
                                   group=args.group, outcome=args.outcome, p0=args.p0,
                                   alternative=args.alternative), args)


def _homogeneity(args) -> None:
    from .homogeneity import homogeneity_test

    if args.seed is not None and args.seed < 0:  # numpy's own message would not name --seed
        raise _Fail(f"--seed must be a non-negative integer, got {args.seed}")
    data = _read(args)
    budget = {} if args.max_nodes is None else {"max_nodes": args.max_nodes}
    _emit_result(homogeneity_test(data, events=args.events, trials=args.trials,
                                  method=args.method, n_resamples=args.n_resamples,
                                  random_state=args.seed, progress=False, group=args.group,
                                  outcome=args.outcome, **budget), args)


def _meta(args) -> None:
    from .pooling import meta_proportion, meta_two_arm

    data = _read(args)
    if args.two_arm:
        if args.outcome is not None:
            raise _Fail("--outcome takes one-arm data (one row per subject); it cannot be used "
                        "with --two-arm")
        result = meta_two_arm(data, events_treat=args.events_treat,
                              trials_treat=args.trials_treat, events_ctrl=args.events_ctrl,
                              trials_ctrl=args.trials_ctrl, study=args.study,
                              measure=args.measure, method=args.method,
                              conf_level=args.conf_level)
        table = result.table  # the columns every pooled result's table has
    else:
        result = meta_proportion(data, events=args.events, trials=args.trials, group=args.group,
                                 outcome=args.outcome, method=args.method, scale=args.scale,
                                 conf_level=args.conf_level)
        table = result.table
    if args.per_group:
        _emit(table, args)
    else:
        _emit_result(result, args)


# Most values of k one `binfer pmf` call prints (a table of 10 million rows is ~200 MB of text).
_MAX_K_VALUES = 10_000_000


def _oe(args) -> None:
    from .profiling import observed_vs_expected

    data = _read(args)
    result = observed_vs_expected(data, risks=args.risks, observed=args.observed,
                                  group=args.group, alternative=args.alternative,
                                  mid_p=args.mid_p, conf_level=args.conf_level)
    if result.table is not None and not (args.json or args.csv):
        print(repr(result))
        print(result.table.to_string(index=False))
    else:
        _emit_result(result, args)


def _lrt(args) -> None:
    from .homogeneity import binomial_vs_poisson_binomial

    if (args.replicate is None) != (args.group is None):
        raise _Fail("--replicate and --group go together: long data (one row per replicate and "
                    "group) needs both, wide data (one row per replicate) neither")
    if args.seed is not None and args.seed < 0:  # numpy's own message would not name --seed
        raise _Fail(f"--seed must be a non-negative integer, got {args.seed}")
    trials, events = args.trials, args.events
    if args.replicate is not None:  # long data: one trials (and events) column
        for option, names in (("--trials", trials), ("--events", events)):
            if names is not None and len(names) != 1:
                raise _Fail(f"{option}: long data (--replicate and --group) takes one column, "
                            f"got {len(names)}: {' '.join(names)}")
        trials, events = trials[0], None if events is None else events[0]
    data = _read(args)
    result = binomial_vs_poisson_binomial(
        data, totals=args.totals, trials=trials, events=events, replicate=args.replicate,
        group=args.group, method=args.method, n_resamples=args.n_resamples,
        random_state=args.seed, progress=True)  # the bar shows only when stderr is a terminal
    fields = result.to_frame().iloc[0].to_dict()
    p = result.p
    if args.json:
        fields = {key: _plain(value) for key, value in fields.items()}
        fields["p"] = {str(_plain(label)): _plain(value) for label, value in p.items()}
        print(json.dumps([fields], indent=2))
    elif args.csv:  # tidy: one row per group, the test's columns repeated on each
        table = pd.DataFrame({"group": list(p.index), "p": p.to_numpy()})
        _emit(table.assign(**{key: [value] * len(table) for key, value in fields.items()}),
              args)
    else:
        print(repr(result))
        _emit(pd.DataFrame({"group": list(p.index), "p": p.to_numpy()}), args,
              title="fitted p per group:")


def _parse_k(spec: list[str], size: int) -> np.ndarray:
    pieces = []
    total = 0
    for item in spec:
        try:
            if ":" in item:
                lo, hi = item.split(":", 1)
                start, stop = (int(lo) if lo else 0), (int(hi) if hi else size)
            else:
                start = stop = int(item)
        except ValueError as exc:
            raise _Fail(f"--k: {item!r} is not an integer or a range like 0:5") from exc
        total += max(stop - start + 1, 0)
        if total > _MAX_K_VALUES:
            raise _Fail(f"--k asks for {total} values (from {item!r}); at most "
                        f"{_MAX_K_VALUES} can be printed: give a narrower range")
        pieces.append(np.arange(start, stop + 1, dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def _numbers(values: list[str], option: str, kind=float) -> list:
    out = []
    for v in values:
        try:
            out.append(kind(v))
        except ValueError as exc:
            raise _Fail(f"{option}: {v!r} is not a number") from exc
    return out


def _pmf(args) -> None:
    from .core import PoissonBinomial

    p = _numbers(args.p, "--p")
    counts = None if args.counts is None else _numbers(args.counts, "--counts", int)
    dist = PoissonBinomial(p, counts)
    n_total = int(dist.support()[1])
    k = _parse_k(args.k if args.k else [f"0:{n_total}"], n_total)
    funcs = {"pmf": (dist.pmf, dist.logpmf), "cdf": (dist.cdf, dist.logcdf),
             "sf": (dist.sf, dist.logsf)}
    linear, log = funcs[args.what]
    name = f"log_{args.what}" if args.log else args.what
    values = log(k) if args.log else linear(k)
    _emit(pd.DataFrame({"k": k, name: np.atleast_1d(values)}), args,
          title=None if (args.json or args.csv) else repr(dist))


def _datasets(args) -> None:
    from . import datasets

    if args.name is None:
        _emit(datasets.list(), args)
    else:
        frame = datasets.load(args.name)
        if args.json:
            _emit(frame, args)
        else:  # a dataset prints as CSV by default: `binfer datasets NAME > file.csv`
            sys.stdout.write(frame.to_csv(index=False))


EPILOG = {
    "pool": "examples: binfer pool --dataset surgical --method clopper-pearson\n"
            "          binfer pool --dataset surgical --p0 0.05 --alternative greater",
    "homogeneity": "example: binfer homogeneity hospitals.csv --events deaths --trials "
                   "operations --method exact",
    "meta": "examples: binfer meta --dataset surgical --method DL --scale logit\n"
            "          binfer meta --dataset bcg --two-arm --measure RR --per-group",
    "oe": "examples: binfer oe patients.csv --risks risk --observed died\n"
          "          binfer oe patients.csv --risks risk --observed died --group hospital --csv",
    "lrt": "examples: binfer lrt days.csv --totals positives --trials a b c --method mixture\n"
           "          binfer lrt days.csv --totals positives --trials a b c --n-resamples 199 "
           "--seed 1 --json\n"
           "          binfer lrt long.csv --replicate day --group line --trials n --totals "
           "positives --csv",
    "pmf": "example: binfer pmf --counts 12 18 --p 0.04 0.05 --k 0:5 --log",
    "datasets": "examples: binfer datasets\n          binfer datasets rat_tumors > rats.csv",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="binfer",
        description="Exact inference for grouped binomial counts.",
        epilog="example: binfer homogeneity --dataset surgical --method exact\n"
               "Run `binfer COMMAND --help` for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text):
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("pool", "pooled proportion sum(events)/sum(trials) with a confidence interval")
    _input_options(p)
    p.add_argument("--method", default="wilson",
                   help="interval: wald, wilson, wilson-cc, clopper-pearson, jeffreys, "
                        "agresti-coull, likelihood-ratio, mid-p (default: wilson)")
    p.add_argument("--conf-level", type=float, default=0.95)
    p.add_argument("--p0", type=float, default=None,
                   help="test the pooled proportion against p0 (exact binomial and score tests)")
    p.add_argument("--alternative", default="two-sided", help="two-sided, less, greater")
    p.set_defaults(run=_pool)

    p = add("homogeneity", "test that every group has the same proportion")
    _input_options(p)
    p.add_argument("--method", default="pearson", help="pearson, g, exact, monte-carlo")
    p.add_argument("--n-resamples", type=int, default=9999)
    p.add_argument("--seed", type=int, default=None, help="random seed for Monte Carlo")
    p.add_argument("--max-nodes", type=int, default=None,
                   help="work budget of --method exact: partial tables held at once (default "
                        "300000); larger gives narrower certified bounds where p is not exact")
    p.set_defaults(run=_homogeneity)

    p = add("meta", "meta-analytic pooling of proportions or of two-arm studies")
    _input_options(p, two_arm=True)
    p.add_argument("--method", default="REML", help="EE, DL, REML, PM, ML, GLMM; two-arm: also "
                                                    "MH, Peto (default: REML)")
    p.add_argument("--scale", default="logit",
                   help="one-arm scale: logit, log, arcsine, freeman-tukey, raw")
    p.add_argument("--measure", default="OR", help="two-arm measure: OR, RR, RD")
    p.add_argument("--conf-level", type=float, default=0.95)
    p.add_argument("--per-group", action="store_true", help="print the per-group table")
    p.set_defaults(run=_meta)

    p = add("oe", "exact test of observed totals against subjects' predicted risks "
                  "(observed / expected, one row per subject)")
    p.add_argument("file", nargs="?", help="CSV (or Parquet) file; '-' reads standard input")
    p.add_argument("--dataset", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--risks", default="risk", help="predicted risk column (default: risk)")
    p.add_argument("--observed", default="outcome",
                   help="0/1 outcome column (default: outcome)")
    p.add_argument("--group", default=None,
                   help="institution column: one test per institution (default: one test)")
    p.add_argument("--alternative", default="two-sided", help="two-sided, less, greater")
    p.add_argument("--mid-p", action="store_true", help="mid-p values and interval")
    p.add_argument("--conf-level", type=float, default=0.95)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV")
    p.set_defaults(run=_oe)

    p = add("lrt", "likelihood-ratio test that replicate totals are binomial (one common p) "
                   "rather than Poisson-binomial (a p per group), when only the totals are "
                   "observed")
    p.add_argument("file", nargs="?", help="CSV (or Parquet) file; '-' reads standard input")
    p.add_argument("--dataset", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--totals", default="totals", metavar="COL",
                   help="column of the replicates' totals (default: totals)")
    p.add_argument("--trials", nargs="+", required=True, metavar="COL",
                   help="wide data (one row per replicate): the trials column of each group; "
                        "long data: the one trials column")
    p.add_argument("--events", nargs="+", default=None, metavar="COL",
                   help="the group counts, if observed (as --trials): then the test is the "
                        "G-test of homogeneity")
    p.add_argument("--replicate", default=None, metavar="COL",
                   help="long data (one row per replicate and group): the replicate column; "
                        "with --group")
    p.add_argument("--group", default=None, metavar="COL",
                   help="long data: the group label column; with --replicate")
    p.add_argument("--method", default="bootstrap",
                   help="bootstrap (parametric, under H0) or mixture (50:50 mixture of chi2_0 "
                        "and chi2_1, no resampling) (default: bootstrap)")
    p.add_argument("--n-resamples", type=int, default=999,
                   help="bootstrap resamples (default: 999; each refits both models)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the bootstrap")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV")
    p.set_defaults(run=_lrt)

    p = add("pmf", "exact distribution of a sum of independent binomials")
    p.add_argument("--p", nargs="+", required=True, help="success probability of each group")
    p.add_argument("--counts", nargs="+", help="trials in each group (default: 1 each)")
    p.add_argument("--k", nargs="+", help="values or ranges (0:5); default: the whole support")
    p.add_argument("--what", choices=("pmf", "cdf", "sf"), default="pmf",
                   help="pmf, cdf = P(X <= k) or sf = P(X > k)")
    p.add_argument("--log", action="store_true", help="natural logs (finite far below 1e-308)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(run=_pmf)

    p = add("datasets", "list the bundled datasets, or print one as CSV")
    p.add_argument("name", nargs="?", help="dataset to print")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", action="store_true")
    p.set_defaults(run=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``binfer`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (_Fail, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"binfer {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `binfer ... | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
