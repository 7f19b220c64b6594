# rpact 3.3.4 reference for tests/engine/test_multiarm_rpact_tte.py: the trials of
# multiarm-tte.yaml (two hazard-ratio arms, shared control, looks at 150 and 300 deaths,
# closed test with inverse-normal combination, selection "all") simulated by
# getSimulationMultiArmSurvival, with each arm's marginal hazard ratio of the cstrial
# model (input.json, written by make_input.py). Run from the repository root:
#   PYTHONPATH=src python tests/engine/rpact_multiarm_tte/make_input.py
#   Rscript tests/engine/rpact_multiarm_tte/generate.R [iterations] [case id ...]
# It writes tests/engine/rpact_multiarm_tte/<case id>.json. CI never runs R.
#
# plannedEvents in getSimulationMultiArmSurvival counts the events of control and every
# selected arm (f_simulation_multiarm_survival.R, v3.3.4: comparison i gets
# plannedEvents * (omega_i + 1) / (sum(omega) + 1) of them), so it is cstrial's
# design.planned_events with looks at deaths in all arms.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")
here <- "tests/engine/rpact_multiarm_tte"
input <- fromJSON(file.path(here, "input.json"), simplifyVector = FALSE)
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args) > 0) as.integer(args[1]) else 5000
wanted <- if (length(args) > 1) args[-1] else character(0)
design <- getDesignInverseNormal(kMax = length(input$information_rates),
  informationRates = unlist(input$information_rates), alpha = input$alpha,
  typeOfDesign = "asOF")
cases <- list(
  list(id = "dunnett-global-null", scenario = "base", test = "Dunnett"),
  list(id = "dunnett-both-work", scenario = "both-work", test = "Dunnett"),
  list(id = "simes-a-works", scenario = "a-works", test = "Simes")
)
for (case in cases) {
  if (length(wanted) && !(case$id %in% wanted)) next
  s <- Filter(function(x) x$name == case$scenario, input$scenarios)[[1]]
  hr <- unlist(s$hazard_ratios)
  events <- unlist(s$look_events)
  sim <- getSimulationMultiArmSurvival(design, activeArms = 2,
    effectMatrix = matrix(hr, nrow = 1), typeOfShape = "userDefined",
    plannedEvents = events, intersectionTest = case$test, typeOfSelection = "all",
    directionUpper = FALSE, successCriterion = "all",
    maxNumberOfIterations = iterations, seed = 16)
  out <- list(
    id = case$id, scenario = case$scenario, test = case$test,
    rpact = as.character(packageVersion("rpact")),
    call = paste0("getSimulationMultiArmSurvival(getDesignInverseNormal(kMax = 2, ",
      "informationRates = c(0.5, 1), alpha = 0.025, typeOfDesign = 'asOF'), activeArms = 2, ",
      "effectMatrix = matrix(c(", paste(hr, collapse = ", "), "), nrow = 1), ",
      "typeOfShape = 'userDefined', plannedEvents = c(", paste(events, collapse = ", "), "), ",
      "intersectionTest = '", case$test, "', typeOfSelection = 'all', directionUpper = FALSE, ",
      "successCriterion = 'all', maxNumberOfIterations = ", iterations, ", seed = 16)"),
    hazard_ratios = hr, planned_events = events, iterations = iterations,
    critical_values = design$criticalValues,
    rejected = apply(sim$rejectedArmsPerStage[, 1, , drop = FALSE], 3, sum),
    rejected_per_stage = sim$rejectedArmsPerStage[, 1, ],  # stage x arm
    reject_at_least_one = sim$rejectAtLeastOne[1],
    early_stop = sim$earlyStop[1, 1],
    expected_events = sim$expectedNumberOfEvents[1])
  write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
        file.path(here, paste0(case$id, ".json")))
  cat(case$id, "done\n")
}
