"""The log-rank test and the Cox model equal lifelines and statsmodels on the same data.

Each reference case is a seeded trial (`Trial`) with the values the reference libraries
give on it, pinned as data (the calls are quoted above `CASES`);
`test_pinned_values_are_what_the_references_give` re-runs those calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri
from statsmodels.duration.hazard_regression import PHReg

from cstrial.analysis.survival import (
    _at_previous_end,
    _gather,
    _group_events,
    _sort_rows,
    cox_treatment,
    logrank_z,
    stratified_logrank_z,
)
from cstrial.errors import CstrialError

CONTROL_HAZARD = 1 / 30  # per day
COVARIATE_LOG_HR = (0.03, 0.5)  # per year of age above 65, and for a binary risk factor


@dataclass(frozen=True)
class Trial:
    """A seeded two-arm trial: exponential event times, uniform censoring, two covariates.

    Times are rounded up to multiples of ``tie_days`` (0 leaves them continuous, without
    ties). Built from ``Generator.random`` alone, whose stream numpy keeps stable.
    """

    seed: int
    n: int
    hazard_ratio: float
    tie_days: float
    censor_days: float
    n_strata: int = 3

    def arrays(self):
        """time, event, treated, strata, each (n,), and covariates (n, 2): age, risk factor."""
        u = np.random.default_rng(self.seed).random((6, self.n))
        treated = u[0] < 0.5
        covariates = np.column_stack([65.0 + 10.0 * ndtri(u[1]), (u[2] < 0.3).astype(float)])
        log_hazard = np.log(CONTROL_HAZARD) + np.where(treated, np.log(self.hazard_ratio), 0.0)
        log_hazard = log_hazard + (covariates - [65.0, 0.0]) @ COVARIATE_LOG_HR
        event_time = -np.log(u[3]) / np.exp(log_hazard)
        censor_time = self.censor_days * u[4]
        time = np.minimum(event_time, censor_time)
        if self.tie_days:
            time = np.ceil(time / self.tie_days) * self.tie_days
        strata = np.floor(u[5] * self.n_strata).astype(int)
        return time, event_time <= censor_time, treated, strata, covariates


@dataclass(frozen=True)
class Case:
    trial: Trial
    chisq_lifelines: float
    chisq_survdiff: float
    chisq_stratified: float
    breslow_log_hr: float
    breslow_se: float
    breslow_cov_log_hr: float
    breslow_cov_se: float
    # lifelines fits Efron's ties, which equal Breslow's only without ties: None with ties
    efron_log_hr: float | None = None
    efron_se: float | None = None
    efron_cov_log_hr: float | None = None
    efron_cov_se: float | None = None


# t, e, trt, s, x = case.trial.arrays(); values from lifelines 0.30.3 and statsmodels 0.15.0:
# chisq_lifelines   lifelines.statistics.logrank_test(t[trt], t[~trt], e[trt], e[~trt]).test_statistic
# chisq_survdiff    statsmodels.duration.survfunc.survdiff(t, e.astype(int), trt.astype(int))[0]
# chisq_stratified  survdiff(t, e.astype(int), trt.astype(int), strata=s)[0]
# breslow_*         m = statsmodels.duration.hazard_regression.PHReg(
#                       t, X, status=e.astype(int), ties="breslow").fit(); m.params[0], m.bse[0]
#                   X = trt[:, None].astype(float) (breslow_log_hr, breslow_se)
#                   X = numpy.column_stack([trt, x]) (breslow_cov_log_hr, breslow_cov_se)
# efron_*           df = pandas.DataFrame({"t": t, "e": e, "trt": trt, "age": x[:, 0], "risk": x[:, 1]})
#                   f = lifelines.CoxPHFitter().fit(df[columns], "t", "e",
#                       fit_options={"precision": 1e-12}); f.params_["trt"], f.standard_errors_["trt"]
#                   columns = ["t", "e", "trt"] (efron_log_hr, efron_se), all (efron_cov_*)
#                   (lifelines' default precision, 1e-7, leaves its estimate up to ~1e-5 off)
CASES = [
    pytest.param(
        Case(
            Trial(seed=1, n=60, hazard_ratio=0.6, tie_days=1, censor_days=60),
            chisq_lifelines=4.109782811060314,
            chisq_survdiff=4.109782811060315,
            chisq_stratified=3.9030141707159,
            breslow_log_hr=-0.8746798116783421,
            breslow_se=0.45027935313501605,
            breslow_cov_log_hr=-0.9514597840948265,
            breslow_cov_se=0.4670372533072572,
        ),
        id="n60-daily-ties",
    ),
    pytest.param(
        Case(
            Trial(seed=2, n=200, hazard_ratio=1.0, tie_days=7, censor_days=90),
            chisq_lifelines=2.5686136032805456,
            chisq_survdiff=2.5686136032805496,
            chisq_stratified=2.4694019606098925,
            breslow_log_hr=-0.239051018724808,
            breslow_se=0.16875025939497562,
            breslow_cov_log_hr=-0.13564264024641862,
            breslow_cov_se=0.1698652876618332,
        ),
        id="n200-weekly-ties-null",
    ),
    pytest.param(
        Case(
            Trial(seed=3, n=400, hazard_ratio=0.75, tie_days=0, censor_days=120),
            chisq_lifelines=0.0020063893742667043,
            chisq_survdiff=0.0020063893742666658,
            chisq_stratified=0.008163530338514044,
            breslow_log_hr=-0.005342604166981754,
            breslow_se=0.1192740318141297,
            breslow_cov_log_hr=-0.05314784236629615,
            breslow_cov_se=0.11974674163776097,
            efron_log_hr=-0.005342604162235606,
            efron_se=0.11927403181411486,
            efron_cov_log_hr=-0.05314784236629593,
            efron_cov_se=0.11974674163776101,
        ),
        id="n400-no-ties",
    ),
    pytest.param(
        Case(
            Trial(seed=4, n=100, hazard_ratio=1.5, tie_days=0, censor_days=40),
            chisq_lifelines=0.08071188276675696,
            chisq_survdiff=0.08071188276675675,
            chisq_stratified=0.05336167838843061,
            breslow_log_hr=0.07946022614793069,
            breslow_se=0.2797644896157646,
            breslow_cov_log_hr=0.250642032324647,
            breslow_cov_se=0.2850990081299202,
            efron_log_hr=0.07946022750400401,
            efron_se=0.2797644896002384,
            efron_cov_log_hr=0.2506420323249114,
            efron_cov_se=0.2850990081299084,
        ),
        id="n100-no-ties-hr1.5",
    ),
    pytest.param(
        Case(
            Trial(seed=5, n=300, hazard_ratio=0.8, tie_days=1, censor_days=30, n_strata=5),
            chisq_lifelines=0.6961714684938524,
            chisq_survdiff=0.6961714684938516,
            chisq_stratified=0.41183593105311234,
            breslow_log_hr=-0.14522081543858475,
            breslow_se=0.17770463148507795,
            breslow_cov_log_hr=-0.10238026871300038,
            breslow_cov_se=0.17850340247373736,
        ),
        id="n300-daily-ties-heavy-censoring",
    ),
]
NO_TIES = [case for case in CASES if case.values[0].efron_se is not None]


def _batch(*arrays):
    """One trial as a batch of one replicate: (n,) → (1, n), (n, p) → (1, n, p)."""
    return [None if a is None else np.asarray(a)[None] for a in arrays]


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("case", CASES)
def test_logrank_matches_lifelines_and_survdiff(case):
    t, e, trt, _, _ = case.trial.arrays()
    (z,), _ = logrank_z(*_batch(t, e, trt))
    assert z**2 == pytest.approx(case.chisq_lifelines, rel=1e-8, abs=1e-12)
    assert z**2 == pytest.approx(case.chisq_survdiff, rel=1e-8, abs=1e-12)
    # O_t − E_t is the Breslow Cox score at 0, so z and the Cox estimate point opposite ways
    assert np.sign(z) == -np.sign(case.breslow_log_hr)


@pytest.mark.parametrize("case", CASES)
def test_stratified_logrank_matches_survdiff(case):
    t, e, trt, s, _ = case.trial.arrays()
    (z,), _ = stratified_logrank_z(*_batch(t, e, trt, s))
    assert z**2 == pytest.approx(case.chisq_stratified, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_cox_breslow_matches_statsmodels_phreg(case):
    t, e, trt, _, x = case.trial.arrays()
    fit = cox_treatment(*_batch(t, e, trt))
    adjusted = cox_treatment(*_batch(t, e, trt), covariates=x[None])
    assert fit.converged[0] and adjusted.converged[0]
    assert fit.log_hr[0] == pytest.approx(case.breslow_log_hr, abs=1e-6)
    assert fit.se[0] == pytest.approx(case.breslow_se, rel=1e-6)
    assert adjusted.log_hr[0] == pytest.approx(case.breslow_cov_log_hr, abs=1e-6)
    assert adjusted.se[0] == pytest.approx(case.breslow_cov_se, rel=1e-6)
    assert fit.z[0] == pytest.approx(-case.breslow_log_hr / case.breslow_se, abs=1e-6)
    assert fit.ci_low[0] == pytest.approx(
        math.exp(case.breslow_log_hr - 1.959963984540054 * case.breslow_se), rel=1e-6
    )


@pytest.mark.parametrize("case", NO_TIES)
def test_cox_matches_lifelines_efron_without_ties(case):
    t, e, trt, _, x = case.trial.arrays()
    fit = cox_treatment(*_batch(t, e, trt))
    adjusted = cox_treatment(*_batch(t, e, trt), covariates=x[None])
    assert fit.log_hr[0] == pytest.approx(case.efron_log_hr, abs=1e-6)
    assert fit.se[0] == pytest.approx(case.efron_se, rel=1e-6)
    assert adjusted.log_hr[0] == pytest.approx(case.efron_cov_log_hr, abs=1e-6)
    assert adjusted.se[0] == pytest.approx(case.efron_cov_se, rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_pinned_values_are_what_the_references_give(case):
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd
    from lifelines.statistics import logrank_test
    from statsmodels.duration.survfunc import survdiff

    t, e, trt, s, x = case.trial.arrays()
    got = {
        "chisq_lifelines": logrank_test(t[trt], t[~trt], e[trt], e[~trt]).test_statistic,
        "chisq_survdiff": survdiff(t, e.astype(int), trt.astype(int))[0],
        "chisq_stratified": survdiff(t, e.astype(int), trt.astype(int), strata=s)[0],
    }
    for suffix, exog in (("", trt[:, None].astype(float)), ("_cov", np.column_stack([trt, x]))):
        m = PHReg(t, exog, status=e.astype(int), ties="breslow").fit()
        got[f"breslow{suffix}_log_hr"], got[f"breslow{suffix}_se"] = m.params[0], m.bse[0]
    if case.efron_se is not None:
        df = pd.DataFrame({"t": t, "e": e, "trt": trt, "age": x[:, 0], "risk": x[:, 1]})
        for suffix, columns in (("", ["t", "e", "trt"]), ("_cov", list(df.columns))):
            f = lifelines.CoxPHFitter().fit(df[columns], "t", "e", fit_options={"precision": 1e-12})
            got[f"efron{suffix}_log_hr"] = f.params_["trt"]
            got[f"efron{suffix}_se"] = f.standard_errors_["trt"]
    for name, value in got.items():
        assert value == pytest.approx(getattr(case, name), rel=1e-7, abs=1e-9), name


def test_hand_worked_logrank():
    # control: deaths at 1, 2, censored at 4; treatment: deaths at 2, 3, censored at 5
    # t=1: n=6, n_t=3, d=1, d_t=0: E_t = 1/2, V = 1/4
    # t=2: n=5, n_t=3, d=2, d_t=1: E_t = 6/5, V = 2·(3/5)(2/5)·(3/4) = 9/25
    # t=3: n=3, n_t=2, d=1, d_t=1: E_t = 2/3, V = 2/9
    # O_t − E_t = 2 − 71/30 = −11/30, V = 749/900: z = 11/√749, HR = exp(−330/749)
    time = np.array([[1.0, 2.0, 4.0, 2.0, 3.0, 5.0]])
    event = np.array([[True, True, False, True, True, False]])
    treated = np.array([[False, False, False, True, True, True]])
    z, hazard_ratio = logrank_z(time, event, treated)
    assert z[0] == pytest.approx(11 / math.sqrt(749), rel=1e-14)
    assert hazard_ratio[0] == pytest.approx(math.exp(-330 / 749), rel=1e-14)


@pytest.mark.parametrize("case", NO_TIES)
def test_peto_hazard_ratio_is_one_newton_step_of_cox_without_ties(case):
    # without ties V is the Cox information at 0, so log HR_Peto = U(0)/I(0)
    t, e, trt, _, _ = case.trial.arrays()
    model = PHReg(t, trt[:, None].astype(float), status=e.astype(int), ties="breslow")
    one_step = model.score(np.zeros(1))[0] / -model.hessian(np.zeros(1))[0, 0]
    _, (hazard_ratio,) = logrank_z(*_batch(t, e, trt))
    assert math.log(hazard_ratio) == pytest.approx(one_step, rel=1e-10)


# --------------------------------------------------------------------------- invariants


def _replicates(n_rep=6, n=150):
    """A batch of differing trials (ties, none, heavy censoring) with ragged inclusion."""
    trials = [
        Trial(seed=10 + r, n=n, hazard_ratio=0.7, tie_days=(0, 1, 7)[r % 3], censor_days=60)
        for r in range(n_rep)
    ]
    time, event, treated, strata, covariates = (
        np.stack(a) for a in zip(*(t.arrays() for t in trials), strict=True)
    )
    include = np.random.default_rng(0).random(time.shape) < np.linspace(0.5, 1.0, n_rep)[:, None]
    # what lies outside the analysis must not matter, however invalid
    time = np.where(include, time, np.nan)
    covariates = np.where(include[:, :, None], covariates, np.nan)
    return time, event, treated, strata, covariates, include


def test_each_replicate_equals_its_own_single_row_analysis():
    time, event, treated, strata, covariates, include = _replicates()
    z, hazard_ratio = logrank_z(time, event, treated, include)
    zs, hazard_ratio_s = stratified_logrank_z(time, event, treated, strata, include)
    fit = cox_treatment(time, event, treated, include)
    adjusted = cox_treatment(time, event, treated, include, covariates=covariates)
    for r in range(len(time)):
        keep = include[r]
        row = _batch(time[r, keep], event[r, keep], treated[r, keep])
        assert z[r] == pytest.approx(logrank_z(*row)[0][0], rel=1e-12)
        assert hazard_ratio[r] == pytest.approx(logrank_z(*row)[1][0], rel=1e-12)
        single_s = stratified_logrank_z(*row, strata[r, keep][None])
        assert (zs[r], hazard_ratio_s[r]) == pytest.approx(
            (single_s[0][0], single_s[1][0]), rel=1e-12
        )
        single = cox_treatment(*row)
        assert (fit.log_hr[r], fit.se[r]) == pytest.approx(
            (single.log_hr[0], single.se[0]), rel=1e-9
        )
        single = cox_treatment(*row, covariates=covariates[r, keep][None])
        assert (adjusted.log_hr[r], adjusted.se[r]) == pytest.approx(
            (single.log_hr[0], single.se[0]), rel=1e-9
        )
    assert fit.converged.all() and adjusted.converged.all()


def test_swapping_arms_flips_the_sign():
    time, event, treated, strata, covariates, include = _replicates()
    z, hazard_ratio = logrank_z(time, event, treated, include)
    z_swapped, hazard_ratio_swapped = logrank_z(time, event, ~treated, include)
    np.testing.assert_allclose(z_swapped, -z, rtol=1e-12)
    np.testing.assert_allclose(hazard_ratio_swapped, 1 / hazard_ratio, rtol=1e-12)
    zs, _ = stratified_logrank_z(time, event, treated, strata, include)
    np.testing.assert_allclose(
        stratified_logrank_z(time, event, ~treated, strata, include)[0], -zs, rtol=1e-12
    )
    fit = cox_treatment(time, event, treated, include, covariates=covariates)
    swapped = cox_treatment(time, event, ~treated, include, covariates=covariates)
    np.testing.assert_allclose(swapped.log_hr, -fit.log_hr, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(swapped.se, fit.se, rtol=1e-8)
    np.testing.assert_allclose(swapped.z, -fit.z, rtol=1e-8, atol=1e-10)


def test_positive_z_means_fewer_events_on_treatment():
    time, event, treated, _, _ = Trial(
        seed=7, n=600, hazard_ratio=0.5, tie_days=1, censor_days=90
    ).arrays()
    (z,), (hazard_ratio,) = logrank_z(*_batch(time, event, treated))
    fit = cox_treatment(*_batch(time, event, treated))
    assert z > 3 and hazard_ratio < 1
    assert fit.z[0] > 3 and fit.ci_high[0] < 1


def test_identical_all_censored_arms_are_no_evidence():
    time = np.tile(np.arange(1.0, 11.0), (3, 2))
    treated = np.repeat([False, True], 10)[None].repeat(3, axis=0)
    event = np.zeros_like(treated)
    z, hazard_ratio = logrank_z(time, event, treated)
    np.testing.assert_array_equal(z, 0.0)
    assert np.isnan(hazard_ratio).all()
    zs, _ = stratified_logrank_z(time, event, treated, np.zeros(time.shape, int))
    np.testing.assert_array_equal(zs, 0.0)
    fit = cox_treatment(time, event, treated)
    assert np.isnan(fit.log_hr).all() and not fit.converged.any()


def test_one_stratum_is_the_unstratified_test_and_codes_are_labels():
    time, event, treated, strata, _, include = _replicates()
    z, hazard_ratio = logrank_z(time, event, treated, include)
    one = stratified_logrank_z(time, event, treated, np.full(time.shape, 4), include)
    np.testing.assert_allclose(one, (z, hazard_ratio), rtol=1e-12)
    relabelled = stratified_logrank_z(time, event, treated, 100 - 7 * strata, include)
    np.testing.assert_allclose(
        relabelled, stratified_logrank_z(time, event, treated, strata, include), rtol=1e-12
    )


def test_unfittable_cox_replicates_are_nan_and_not_converged():
    time, event, treated, _, covariates, include = _replicates(n_rep=5)
    event[0] = False  # no events
    treated[1] = True  # one arm only
    event[2] &= ~treated[2]  # no events on treatment: the estimate is −∞
    covariates[3, :, 1] = 1.0  # a constant covariate: singular information
    fit = cox_treatment(time, event, treated, include, covariates=covariates)
    assert np.isnan(fit.log_hr[:4]).all() and (fit.z[:4] == 0).all()  # no evidence
    assert not fit.converged[:4].any()
    single = cox_treatment(
        *_batch(time[4, include[4]], event[4, include[4]], treated[4, include[4]]),
        covariates=covariates[4, include[4]][None],
    )
    assert fit.converged[4] and fit.log_hr[4] == pytest.approx(single.log_hr[0], rel=1e-9)


def test_cox_stopped_by_max_iter_is_not_converged():
    time, event, treated, _, _, include = _replicates(n_rep=2)
    fit = cox_treatment(time, event, treated, include, max_iter=1)
    assert not fit.converged.any() and np.isfinite(fit.log_hr).all()


@pytest.mark.parametrize(
    ("time", "match"),
    [
        (np.ones(5), "2-d \\(replicates, patients\\)"),
        (np.ones((2, 4)), "must have the shape of"),
        (np.array([[1.0, 2.0, -1.0, 3.0, 4.0]]), "positive and finite"),
    ],
)
def test_malformed_inputs_are_refused_with_a_remedy(time, match):
    event = np.ones((1, 5), bool)
    with pytest.raises(CstrialError, match=match):
        logrank_z(time, event, event)


def test_covariates_of_the_wrong_shape_are_refused():
    time, event = np.ones((2, 5)), np.ones((2, 5), bool)
    with pytest.raises(CstrialError, match="covariates must have shape"):
        cox_treatment(time, event, event, covariates=np.ones((2, 5)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), event_ties=st.booleans())
def test_tie_groups_read_their_own_end_only_when_no_shared_group_has_an_event(seed, event_ties):
    """The short cut of `_group_events` equals the cumulative-sum form at every group end.

    Censored patients share times (administrative censoring at 90 days); deaths are
    continuous, or rounded to whole days when `event_ties` (the cumulative-sum form).
    """
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(2, 80)))
    death = rng.exponential(60.0, shape)
    death = np.ceil(death) if event_ties else death
    event = death <= 90.0
    time = np.where(event, death, 90.0)
    include = rng.random(shape) < 0.9
    treated = rng.random(shape) < 0.5
    order, group_end, _ = _sort_rows(time, include, stable=False)
    code = include.astype(np.int8) | (treated << 1).astype(np.int8) | (event << 2).astype(np.int8)
    code = _gather(code & (include * np.int8(7)), order)
    d, d_t, single = _group_events(code, group_end)
    assert single or event_ties
    for bits, got in ((5, d), (7, d_t)):
        events = np.cumsum((code & bits) == bits, axis=1)
        expected = events - _at_previous_end(events, group_end)
        np.testing.assert_array_equal(got[group_end], expected[group_end])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), strata=st.booleans())
def test_log_rank_sums_without_tied_deaths_equal_the_general_form_bit_for_bit(seed, strata):
    """With every death alone at its time, dropping d = 1 and the tie factor changes no bit.

    The general form (d, d_t from cumulative sums; d·x and (n − d)/(n − 1) kept) is forced by
    reporting tied deaths; small risk sets (n = 1, 2) are common in these short rows.
    """
    from cstrial.analysis import survival

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(2, 60)))
    death = rng.exponential(60.0, shape)
    event = death <= 90.0
    time = np.where(event, death, 90.0)
    include = rng.random(shape) < 0.9
    treated = rng.random(shape) < 0.5
    groups = rng.integers(0, 3, shape) if strata else None
    fast = survival._logrank_sums(time, event, treated, include, groups)

    def general(code, group_end):
        d, d_t, _ = _group_events(code, group_end)
        return d, d_t, False

    with mock.patch.object(survival, "_group_events", general):
        slow = survival._logrank_sums(time, event, treated, include, groups)
    for got, expected in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_a_batch_with_overflowing_fits_gives_each_its_own_result_not_an_error():
    """Two tiny replicates without a finite estimate: NaN and not converged, alone or together.

    Together their informations once reached np.linalg.cond as NaN, whose SVD raised
    LinAlgError and took the whole batch (and a simulation run) down.
    """
    time = np.array(
        [
            [1.034894, 2.344986, 0.532693, 0.099532, 1.0, 1.0],
            [0.524125, 0.079788, 0.427909, 0.646182, 0.003344, 0.957610],
        ]
    )
    event = np.array([[1, 1, 1, 1, 0, 0], [1, 0, 1, 1, 1, 1]], bool)
    treated = np.array([[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 1, 1]], bool)
    include = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    x = np.zeros((2, 6, 2))
    x[0, :4, 0] = [0.333079, 0.552294, -0.016697, 0.332561]
    x[0, :4, 1] = [0, 0, 1, 1]
    x[1, :, 0] = [-0.453720, 0.570214, 0.186511, -1.771743, 0.831771, -0.865991]
    x[1, :, 1] = [1, 0, 0, 1, 0, 0]
    with np.errstate(all="ignore"):
        together = cox_treatment(time, event, treated, include, covariates=x)
        for r in (0, 1):
            alone = cox_treatment(
                time[r : r + 1],
                event[r : r + 1],
                treated[r : r + 1],
                include[r : r + 1],
                covariates=x[r : r + 1],
            )
            assert not alone.converged[0] and not together.converged[r]
            assert alone.z[0] == 0 and together.z[r] == 0  # no evidence


def test_a_fit_whose_variance_is_not_positive_is_not_converged():
    """Four patients, a covariate separating the deaths: the information inverts to a
    variance <= 0. As the docstring says of fits without a finite estimate: NaN, not converged
    (it was reported converged with a log HR of -13.7 and a NaN standard error)."""
    time = np.array([[67.0, 2.0, 13.0, 45.0]])
    event = np.array([[0, 0, 1, 1]], bool)
    treated = np.array([[1, 0, 1, 0]], bool)
    x = np.array([[[0.469477, 0], [-1.564678, 0], [-0.534525, 1], [3.300211, 0]]])
    with np.errstate(all="ignore"):
        fit = cox_treatment(time, event, treated, covariates=x)
    assert not fit.converged[0]
    assert np.isnan([fit.log_hr[0], fit.se[0], fit.hazard_ratio[0]]).all() and fit.z[0] == 0
