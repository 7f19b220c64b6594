# rpact 3.3.4 reference for tests/engine/test_adaptive_rpact_tte.py: the trial of
# ssr-tte.yaml (inverse-normal combination, deaths of stage 2 re-estimated for conditional
# power) simulated by getSimulationSurvival, with each arm's marginal survival law of the
# cstrial model as piecewise-exponential hazards (input.json, written by ../rpact_final_events/make_input.py,
# the approach of tests/engine/rpact_final_events). Run from the repository root:
#   PYTHONPATH=src python tests/engine/rpact_final_events/make_input.py tests/engine/rpact_ssr_tte
#   Rscript tests/engine/rpact_ssr_tte/generate.R
# It writes tests/engine/rpact_ssr_tte/rpact.json. CI never runs R.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")
here <- "tests/engine/rpact_ssr_tte"
input <- fromJSON(file.path(here, "input.json"), simplifyVector = TRUE)
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args) > 0) as.integer(args[1]) else 20000
stopifnot(input$dropout_per_month == 0)
design <- getDesignInverseNormal(kMax = length(input$information_rates),
  informationRates = input$information_rates, alpha = input$alpha, sided = 1,
  typeOfDesign = "asOF")
rule <- list(conditional_power = 0.8, min_per_stage = 100, max_per_stage = 300)
out <- list()
for (i in seq_len(nrow(input$scenarios))) {
  s <- input$scenarios[i, ]
  sim <- getSimulationSurvival(design,
    piecewiseSurvivalTime = s$piecewise_months[[1]],
    lambda2 = s$lambda2[[1]], lambda1 = s$lambda1[[1]],
    plannedEvents = s$look_events[[1]], maxNumberOfSubjects = input$sample_size,
    accrualTime = c(0, input$accrual_months),
    conditionalPower = rule$conditional_power,
    minNumberOfEventsPerStage = c(NA, rule$min_per_stage),
    maxNumberOfEventsPerStage = c(NA, rule$max_per_stage),
    directionUpper = FALSE, maxNumberOfIterations = iterations, seed = 20261202)
  data <- getData(sim)
  last <- data[!duplicated(data$iterationNumber, fromLast = TRUE), ]
  # getData: eventsPerStage is the stage's own deaths, overallEvents1 + 2 the cumulative
  total <- last$overallEvents1 + last$overallEvents2
  stage_2 <- data$eventsPerStage[data$stageNumber == 2]
  out[[s$name]] <- list(
    iterations = iterations,
    efficacy_z = design$criticalValues,
    planned_events = s$look_events[[1]],
    overall_reject = sim$overallReject,
    reject_per_stage = as.numeric(sim$rejectPerStage),
    expected_events = sim$expectedNumberOfEvents,
    events_mean = mean(total), events_sd = sd(total),
    events_not_achieved = sum(data$eventsNotAchieved),
    stage_2_events_mean = mean(stage_2), stage_2_events_sd = sd(stage_2),
    stage_2_trials = length(stage_2),
    subjects_max = max(last$numberOfSubjects),
    expected_subjects = sim$expectedNumberOfSubjects,
    subjects_mean = mean(last$numberOfSubjects), subjects_sd = sd(last$numberOfSubjects))
}
result <- list(rpact = as.character(packageVersion("rpact")), R = R.version.string,
  call = paste0("getSimulationSurvival(getDesignInverseNormal(kMax=2, informationRates=c(0.5,1), ",
    "alpha=0.025, typeOfDesign='asOF'), piecewiseSurvivalTime, lambda2, lambda1 from input.json, ",
    "plannedEvents=c(100,200), maxNumberOfSubjects=1200, accrualTime=c(0,30), ",
    "conditionalPower=0.8, minNumberOfEventsPerStage=c(NA,100), ",
    "maxNumberOfEventsPerStage=c(NA,300), directionUpper=FALSE, ",
    "maxNumberOfIterations=", iterations, ", seed=20261202)"),
  scenarios = out)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "rpact.json"))
