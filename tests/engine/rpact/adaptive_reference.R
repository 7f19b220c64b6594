# Reference values for tests/engine/test_adaptive_rpact.py, from rpact 3.3.4.
# Rscript tests/engine/rpact/adaptive_reference.R  ->  adaptive_reference.json
# Constant-effect designs: rates as given (no covariates), one-sided alpha 0.025,
# inverse-normal design with O'Brien-Fleming-type alpha spending at t = (0.5, 1).
# Lower mortality is better: pi1 (treatment) < pi2 (control), directionUpper = FALSE.
suppressMessages(library(rpact))
library(jsonlite)
stopifnot(as.character(packageVersion("rpact")) == "3.3.4")
iterations <- 100000  # rates (compiled)
enrichment_iterations <- 10000  # enrichment simulations run in R
design <- getDesignInverseNormal(kMax = 2, alpha = 0.025, sided = 1, typeOfDesign = "asOF",
                                 informationRates = c(0.5, 1))
out <- list(rpact = "3.3.4", iterations = iterations,
            enrichment_iterations = enrichment_iterations,
            critical_values = design$criticalValues, rates = list(), enrichment = list())

rates_case <- function(name, pi1, pi2, cp) {
  args <- list(design = design, groups = 2, pi1 = pi1, pi2 = pi2, directionUpper = FALSE,
               plannedSubjects = c(200, 400), maxNumberOfIterations = iterations, seed = 4711)
  if (!is.na(cp)) {
    args <- c(args, list(conditionalPower = cp, minNumberOfSubjectsPerStage = c(NA, 200),
                         maxNumberOfSubjectsPerStage = c(NA, 800)))
  }
  s <- do.call(getSimulationRates, args)
  list(name = name, pi1 = pi1, pi2 = pi2, conditional_power = cp,
       planned = c(200, 400), min_per_stage = 200, max_per_stage = 800,
       reject = s$overallReject, reject_per_stage = as.vector(s$rejectPerStage),
       expected_n = s$expectedNumberOfSubjects,
       stage_2_n = as.vector(s$sampleSizes)[2])
}
out$rates <- list(
  rates_case("ssr-null", 0.40, 0.40, 0.8),
  rates_case("ssr-alternative", 0.32, 0.40, 0.8),
  rates_case("ssr-small-effect", 0.36, 0.40, 0.8),
  rates_case("fixed-stages-alternative", 0.32, 0.40, NA)
)

enrichment_case <- function(name, prevalence, pi_control, pi_treatment, selection, epsilon,
                            test) {
  effects <- list(subGroups = c("S", "R"), prevalences = c(prevalence, 1 - prevalence),
                  piControl = pi_control,
                  piTreatments = matrix(pi_treatment, byrow = TRUE, ncol = 2))
  args <- list(design = design, plannedSubjects = c(500, 1000), effectList = effects,
               typeOfSelection = selection, intersectionTest = test,
               stratifiedAnalysis = FALSE, directionUpper = FALSE,
               maxNumberOfIterations = enrichment_iterations, seed = 4711)
  if (selection == "epsilon") args$epsilonValue <- epsilon
  s <- do.call(getSimulationEnrichmentRates, args)
  # populations: S (subgroup) first, F (full) second
  list(name = name, prevalence = prevalence, pi_control = pi_control,
       pi_treatment = pi_treatment, selection = selection,
       epsilon = if (is.na(epsilon)) NULL else epsilon, intersection = test,
       planned = c(500, 1000),
       reject_at_least_one = s$rejectAtLeastOne,
       # [stage, variant, population]: populations S, F
       rejected_populations = colSums(s$rejectedPopulationsPerStage[, 1, ]),
       rejected_per_stage = s$rejectedPopulationsPerStage[, 1, ],
       selected_stage_2 = s$selectedPopulations[2, 1, ],
       expected_n = s$expectedNumberOfSubjects,
       early_stop = s$earlyStop[1, 1])
}
message("rates done")
save <- function() writeLines(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE),
                              "tests/engine/rpact/adaptive_reference.json")
save()
out$enrichment <- list(
  enrichment_case("null-epsilon-simes", 0.33, c(0.60, 0.31), c(0.60, 0.31), "epsilon", 0.05,
                  "Simes"),
  enrichment_case("subgroup-only-epsilon-simes", 0.33, c(0.60, 0.31), c(0.48, 0.31),
                  "epsilon", 0.05, "Simes"),
  enrichment_case("complement-only-best-bonferroni", 0.33, c(0.60, 0.31), c(0.60, 0.24),
                  "best", NA, "Bonferroni"),
  enrichment_case("all-comers-best-spiessens-debois", 0.33, c(0.60, 0.31), c(0.51, 0.26),
                  "best", NA, "SpiessensDebois")
)
save()
