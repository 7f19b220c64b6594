# rpact 3.3.4 reference for tests/engine/test_adaptive_rpact_enrich_tte.py: adaptive
# enrichment on a time-to-event primary, getSimulationEnrichmentSurvival with
# getDesignInverseNormal (Simes; epsilon selection on cstrial's scale, see below;
# stratifiedAnalysis = TRUE, the only one rpact offers for survival: its F statistic is
# the deaths-weighted sum of the subsets' log-rank statistics).
# Run from the repository root:
#   PYTHONPATH=src python tests/engine/rpact_enrich_tte/make_input.py
#   Rscript tests/engine/rpact_enrich_tte/generate.R
# It writes tests/engine/rpact_enrich_tte/rpact.json. CI never runs R.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")
here <- "tests/engine/rpact_enrich_tte"
input <- fromJSON(file.path(here, "input.json"), simplifyVector = TRUE)
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args) > 0) as.integer(args[1]) else 10000
design <- getDesignInverseNormal(kMax = length(input$information_rates),
  informationRates = input$information_rates, alpha = input$alpha, sided = 1,
  typeOfDesign = "asOF")
out <- list()
for (i in seq_len(nrow(input$scenarios))) {
  s <- input$scenarios[i, ]
  effects <- list(subGroups = c("S", "R"), prevalences = s$prevalences[[1]],
                  piControls = s$pi_controls[[1]],
                  hazardRatios = matrix(s$hazard_ratios[[1]], nrow = 1))
  # rpact's typeOfSelection = "epsilon" compares the estimates 1 / HR (directionUpper =
  # FALSE: effectVector is 1 / overallEffects); cstrial's epsilon compares -log HR. The
  # same rule on rpact's side is user-defined: within epsilon of the best on the log scale
  epsilon <- s$epsilon
  select <- function(effectVector) {
    benefit <- log(effectVector)
    !is.na(benefit) & benefit >= max(benefit, na.rm = TRUE) - epsilon
  }
  sim <- getSimulationEnrichmentSurvival(design, effectList = effects,
    plannedEvents = s$planned_events[[1]], typeOfSelection = "userDefined",
    selectPopulationsFunction = select, intersectionTest = "Simes", stratifiedAnalysis = TRUE,
    directionUpper = FALSE, maxNumberOfIterations = iterations, seed = 20261202)
  # [stage, variant, population]: populations S, F
  out[[s$name]] <- list(
    iterations = iterations,
    efficacy_z = design$criticalValues,
    planned_events = s$planned_events[[1]],
    hazard_ratios = s$hazard_ratios[[1]],
    reject_at_least_one = sim$rejectAtLeastOne,
    rejected_populations = colSums(sim$rejectedPopulationsPerStage[, 1, ]),
    rejected_per_stage = sim$rejectedPopulationsPerStage[, 1, ],
    selected_stage_2 = sim$selectedPopulations[2, 1, ],
    expected_events = sim$expectedNumberOfEvents,
    early_stop = sim$earlyStop[1, 1])
}
result <- list(rpact = as.character(packageVersion("rpact")), R = R.version.string,
  call = paste0("getSimulationEnrichmentSurvival(getDesignInverseNormal(kMax=2, ",
    "informationRates=c(0.5,1), alpha=0.025, typeOfDesign='asOF'), effectList=list(",
    "subGroups=c('S','R'), prevalences, piControls, hazardRatios from input.json), ",
    "plannedEvents=c(150,300), typeOfSelection='userDefined', selectPopulationsFunction=log(effectVector) >= max(log(effectVector)) - epsilon (epsilon from input.json), ",
    "intersectionTest='Simes', stratifiedAnalysis=TRUE, directionUpper=FALSE, ",
    "maxNumberOfIterations=", iterations, ", seed=20261202)"),
  scenarios = out)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "rpact.json"))
