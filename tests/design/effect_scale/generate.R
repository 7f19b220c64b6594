# Reference values for tests/design/test_effect_scale.py: group-sequential bounds on the
# effect scale from rpact 3.3.4's summary quantities (criticalValuesEffectScale,
# futilityBoundsEffectScale). Run from the repository root:
#   Rscript tests/design/effect_scale/generate.R
# It writes tests/design/effect_scale/rpact.json. CI never runs R.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")

design_of <- function(kMax, rates, type, futility) {
  if (futility) {
    getDesignGroupSequential(kMax = kMax, informationRates = rates, alpha = 0.025, beta = 0.2,
      typeOfDesign = type, typeBetaSpending = "bsHSD", gammaB = -2, bindingFutility = FALSE)
  } else {
    getDesignGroupSequential(kMax = kMax, informationRates = rates, alpha = 0.025, typeOfDesign = type)
  }
}

cases <- list()
# rates: risk difference treatment - control, mortality lowered (directionUpper = FALSE)
rate_cases <- list(
  list(name = "rates-3look-of-hsd", kMax = 3, rates = c(1/3, 2/3, 1), type = "asOF", futility = TRUE,
       n = 3700, pi1 = 0.400874, pi2 = 0.446247, allocation = 1),
  list(name = "rates-2look-pocock-2to1", kMax = 2, rates = c(0.5, 1), type = "asP", futility = FALSE,
       n = 900, pi1 = 0.30, pi2 = 0.40, allocation = 2),
  list(name = "rates-fixed", kMax = 1, rates = 1, type = "asOF", futility = FALSE,
       n = 800, pi1 = 0.44, pi2 = 0.50, allocation = 1)
)
for (c in rate_cases) {
  d <- if (c$kMax == 1) getDesignGroupSequential(kMax = 1, alpha = 0.025) else
    design_of(c$kMax, c$rates, c$type, c$futility)
  p <- getPowerRates(d, pi1 = c$pi1, pi2 = c$pi2, maxNumberOfSubjects = c$n,
    directionUpper = FALSE, allocationRatioPlanned = c$allocation)
  cases[[length(cases) + 1]] <- list(
    name = c$name, scale = "risk-difference",
    call = sprintf("getPowerRates(getDesignGroupSequential(kMax=%d, informationRates=c(%s), typeOfDesign='%s'%s), pi1=%g, pi2=%g, maxNumberOfSubjects=%d, directionUpper=FALSE, allocationRatioPlanned=%g)",
      c$kMax, paste(signif(d$informationRates, 6), collapse = ","), c$type,
      if (c$futility) ", beta=0.2, typeBetaSpending='bsHSD', gammaB=-2" else "", c$pi1, c$pi2, c$n, c$allocation),
    information_rates = d$informationRates, efficacy_z = d$criticalValues,
    futility_z = if (c$futility) d$futilityBounds else NULL,
    sample_size = c$n, allocation = c$allocation, control_risk = c$pi2,
    efficacy_effect = as.numeric(p$criticalValuesEffectScale),
    futility_effect = if (c$futility) as.numeric(p$futilityBoundsEffectScale) else NULL)
}
# survival: hazard ratio treatment / control at the planned events
surv_cases <- list(
  list(name = "survival-3look-of-hsd", kMax = 3, rates = c(1/3, 2/3, 1), type = "asOF", futility = TRUE,
       events = 600, allocation = 1),
  list(name = "survival-2look-pocock-2to1", kMax = 2, rates = c(0.5, 1), type = "asP", futility = FALSE,
       events = 250, allocation = 2)
)
for (c in surv_cases) {
  d <- design_of(c$kMax, c$rates, c$type, c$futility)
  p <- getPowerSurvival(d, maxNumberOfEvents = c$events, maxNumberOfSubjects = 4 * c$events,
    lambda2 = 0.02, hazardRatio = 0.8, accrualTime = c(0, 24), directionUpper = FALSE,
    allocationRatioPlanned = c$allocation)
  cases[[length(cases) + 1]] <- list(
    name = c$name, scale = "hazard-ratio",
    call = sprintf("getPowerSurvival(<design %s, kMax=%d>, maxNumberOfEvents=%d, maxNumberOfSubjects=%d, lambda2=0.02, hazardRatio=0.8, accrualTime=c(0,24), directionUpper=FALSE, allocationRatioPlanned=%g)",
      c$type, c$kMax, c$events, 4 * c$events, c$allocation),
    information_rates = d$informationRates, efficacy_z = d$criticalValues,
    futility_z = if (c$futility) d$futilityBounds else NULL,
    events = as.numeric(p$eventsPerStage), allocation = c$allocation,
    efficacy_effect = as.numeric(p$criticalValuesEffectScale),
    futility_effect = if (c$futility) as.numeric(p$futilityBoundsEffectScale) else NULL)
}
out <- list(rpact = as.character(packageVersion("rpact")), R = R.version.string, cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
  "tests/design/effect_scale/rpact.json")
