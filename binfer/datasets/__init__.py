"""Real, published grouped-binomial datasets, bundled as tidy CSVs.

The CSVs are package data (``binfer/datasets/data/``) read through :mod:`importlib.resources`, so
an installed wheel carries them. ``datasets/README.md`` at the top of the repository says, for each
one, what a row is, every column, the publication, where the numbers were taken from and how they
were cross-checked (``tests/reference/check_datasets.R``).

Columns use binfer's canonical names, so every function runs on them with its defaults:
one-arm data have ``group``, ``events``, ``trials``; two-arm data ``study``, ``events_treat``,
``trials_treat``, ``events_ctrl``, ``trials_ctrl``; either may add covariates. Dtypes: counts are
``int64``, labels strings (pandas' ``str`` dtype; ``object`` holding ``str`` before pandas 3),
numeric covariates ``float64``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from importlib import resources

import pandas as pd

__all__ = ["load", "list"]

_COUNT, _LABEL, _COVARIATE = "int64", str, "float64"
_ONE_ARM = {"group": _LABEL, "events": _COUNT, "trials": _COUNT}
_TWO_ARM = {
    "study": _LABEL,
    "events_treat": _COUNT,
    "trials_treat": _COUNT,
    "events_ctrl": _COUNT,
    "trials_ctrl": _COUNT,
}


@dataclass(frozen=True)
class _Dataset:
    description: str
    columns: dict  # column name -> dtype, in file order


_DATASETS = {
    "aspirin": _Dataset(
        "Deaths, aspirin vs placebo after myocardial infarction, 7 trials (Fleiss 1993)",
        {**_TWO_ARM, "year": _COVARIATE},
    ),
    "bcg": _Dataset(
        "Tuberculosis cases, BCG vaccine vs none, 13 trials (Colditz et al. 1994)",
        {**_TWO_ARM, "year": _COVARIATE, "latitude": _COVARIATE, "allocation": _LABEL},
    ),
    "beta_blockers": _Dataset(
        "Deaths, beta-blocker vs control after myocardial infarction, 22 trials (Carlin 1992)",
        dict(_TWO_ARM),
    ),
    "dose_response": _Dataset(
        "Flour beetles killed by carbon disulphide gas at 8 doses (Bliss 1935)",
        {**_ONE_ARM, "dose": _COVARIATE},
    ),
    "efron_morris": _Dataset(
        "Hits in the first 45 at-bats of 1970, 18 baseball players (Efron & Morris 1975)",
        {**_ONE_ARM, "season_average": _COVARIATE, "remaining_at_bats": _COUNT},
    ),
    "multicentre": _Dataset(
        "Patients cured, active vs control cream, 8 centres of one trial (Beitler & Landis 1985)",
        dict(_TWO_ARM),
    ),
    "orange_juice": _Dataset(
        "Nonconforming orange-juice cans in 30 samples of 50 (Montgomery, quality control)",
        dict(_ONE_ARM),
    ),
    "rat_tumors": _Dataset(
        "Tumours in 71 groups of control rats, the last the current one (Tarone 1982; BDA3)",
        dict(_ONE_ARM),
    ),
    "surgical": _Dataset(
        "Deaths after cardiac surgery in babies at 12 hospitals (BUGS examples 1996)",
        dict(_ONE_ARM),
    ),
}


def list() -> pd.DataFrame:  # shadows the builtin here (hence builtins.list): the public name
    """The bundled datasets, one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``name`` (what :func:`load` takes) and ``description`` (one line: what is
        counted, and the publication), in alphabetical order of ``name``.

    See Also
    --------
    load : one dataset as a DataFrame.

    Examples
    --------
    >>> from binfer import datasets
    >>> datasets.list()["name"].tolist()
    ['aspirin', 'bcg', 'beta_blockers', 'dose_response', 'efron_morris', 'multicentre',
     'orange_juice', 'rat_tumors', 'surgical']
    """
    return pd.DataFrame(
        {
            "name": builtins.list(_DATASETS),
            "description": [spec.description for spec in _DATASETS.values()],
        }
    )


def load(name: str) -> pd.DataFrame:
    """One bundled dataset as a tidy DataFrame with binfer's canonical column names.

    Parameters
    ----------
    name : str
        One of the names in :func:`list`: ``"aspirin"``, ``"bcg"``, ``"beta_blockers"``,
        ``"dose_response"``, ``"efron_morris"``, ``"multicentre"``, ``"orange_juice"``,
        ``"rat_tumors"``, ``"surgical"``.

    Returns
    -------
    pandas.DataFrame
        A fresh copy, one row per group (one-arm data: ``group``, ``events``, ``trials``) or per
        study (two-arm data: ``study``, ``events_treat``, ``trials_treat``, ``events_ctrl``,
        ``trials_ctrl``), plus the dataset's covariates. Counts are ``int64``, labels strings
        (``str`` dtype, or ``object`` before pandas 3), numeric covariates ``float64``; nothing
        is missing.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset; the message lists the available names.

    Notes
    -----
    Sources, column meanings and the cross-checks behind each table are in
    ``datasets/README.md``. The files are read with :func:`importlib.resources.files`, so they
    load from a source checkout, an editable install or an installed wheel alike.

    References
    ----------
    .. [1] J. L. Fleiss (1993). The statistical basis of meta-analysis. *Stat. Methods Med. Res.*
       2, 121-145. (``aspirin``)
    .. [2] G. A. Colditz et al. (1994). Efficacy of BCG vaccine in the prevention of
       tuberculosis. *JAMA* 271, 698-702. (``bcg``)
    .. [3] J. B. Carlin (1992). Meta-analysis for 2x2 tables: a Bayesian approach. *Stat. Med.*
       11, 141-158; data from S. Yusuf et al. (1985), *Prog. Cardiovasc. Dis.* 27, 335-371.
       (``beta_blockers``)
    .. [4] C. I. Bliss (1935). The calculation of the dosage-mortality curve. *Ann. Appl. Biol.*
       22, 134-167. (``dose_response``)
    .. [5] B. Efron and C. Morris (1975). Data analysis using Stein's estimator and its
       generalizations. *JASA* 70, 311-319. (``efron_morris``)
    .. [6] P. J. Beitler and J. R. Landis (1985). A mixed-effects model for categorical data.
       *Biometrics* 41, 991-1000. (``multicentre``)
    .. [7] R. E. Tarone (1982). The use of historical control information in testing for a trend
       in proportions. *Biometrics* 38, 215-220; as tabulated in A. Gelman et al. (2013),
       *Bayesian Data Analysis*, 3rd ed., Table 5.1. (``rat_tumors``)
    .. [8] D. Spiegelhalter, A. Thomas, N. Best and W. Gilks (1996). *BUGS 0.5 Examples*, vol. 1,
       "Surgical". (``surgical``)

    Examples
    --------
    >>> import binfer
    >>> from binfer import datasets
    >>> rats = datasets.load("rat_tumors")
    >>> rats.tail(2)
          group  events  trials
    69       70       9      24
    70  current       4      14
    >>> int(rats["events"].sum()), int(rats["trials"].sum())
    (267, 1739)
    >>> round(binfer.pooled_proportion(rats).estimate, 4)
    0.1535
    >>> datasets.load("bcg").dtypes["trials_treat"], datasets.load("bcg").dtypes["latitude"]
    (dtype('int64'), dtype('float64'))
    """
    spec = _DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(
            f"unknown dataset {name!r}; the bundled datasets are: {', '.join(_DATASETS)}"
        )
    source = resources.files(__name__) / "data" / f"{name}.csv"
    with source.open("r", encoding="utf-8") as handle:
        # keep_default_na=False: no label is ever read as NaN, and a blank count or covariate is
        # an error rather than a silent NaN.
        return pd.read_csv(handle, dtype=spec.columns, keep_default_na=False)
