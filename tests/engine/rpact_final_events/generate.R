# rpact 3.3.4 reference for tests/engine/test_final_analysis.py: the event-driven trial of
# final-events.yaml simulated by getSimulationSurvival, with each arm's marginal survival
# law of the cstrial model as piecewise-exponential hazards (input.json, written by
# make_input.py). Run from the repository root:
#   PYTHONPATH=src python tests/engine/rpact_final_events/make_input.py
#   Rscript tests/engine/rpact_final_events/generate.R
# It writes tests/engine/rpact_final_events/rpact.json. CI never runs R.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")
here <- "tests/engine/rpact_final_events"
input <- fromJSON(file.path(here, "input.json"), simplifyVector = TRUE)
iterations <- 20000
design <- getDesignGroupSequential(kMax = length(input$information_rates),
  informationRates = input$information_rates, alpha = input$alpha, typeOfDesign = "asOF")
dropout_rate <- 1 - exp(-input$dropout_per_month * 12)  # over dropoutTime = 12 months
out <- list()
for (i in seq_len(nrow(input$scenarios))) {
  s <- input$scenarios[i, ]
  sim <- getSimulationSurvival(design,
    piecewiseSurvivalTime = s$piecewise_months[[1]],
    lambda2 = s$lambda2[[1]], lambda1 = s$lambda1[[1]],
    plannedEvents = s$look_events[[1]], maxNumberOfSubjects = input$sample_size,
    accrualTime = c(0, input$accrual_months),
    dropoutRate1 = dropout_rate, dropoutRate2 = dropout_rate, dropoutTime = 12,
    directionUpper = FALSE, maxNumberOfIterations = iterations, seed = 20261202)
  data <- getData(sim)
  last <- data[!duplicated(data$iterationNumber, fromLast = TRUE), ]
  final <- data[data$stageNumber == 2, ]
  out[[s$name]] <- list(
    iterations = iterations,
    efficacy_z = design$criticalValues,
    planned_events = s$look_events[[1]],
    overall_reject = sim$overallReject,
    reject_per_stage = as.numeric(sim$rejectPerStage),
    analysis_time = as.numeric(sim$analysisTime),
    final_time_mean = mean(final$analysisTime), final_time_sd = sd(final$analysisTime),
    expected_subjects = sim$expectedNumberOfSubjects,
    subjects_sd = sd(last$numberOfSubjects),
    duration_mean = mean(last$analysisTime), duration_sd = sd(last$analysisTime))
}
result <- list(rpact = as.character(packageVersion("rpact")), R = R.version.string,
  call = paste0("getSimulationSurvival(getDesignGroupSequential(kMax=2, informationRates=c(0.5,1), ",
    "typeOfDesign='asOF'), piecewiseSurvivalTime, lambda2, lambda1 from input.json, ",
    "plannedEvents=c(100,200), maxNumberOfSubjects=600, accrualTime=c(0,20), ",
    "dropoutRate1=dropoutRate2=1-exp(-0.1), dropoutTime=12, directionUpper=FALSE, ",
    "maxNumberOfIterations=2e4, seed=20261202)"),
  scenarios = out)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "rpact.json"))
