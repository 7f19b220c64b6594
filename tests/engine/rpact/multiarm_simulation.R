# rpact 3.3.4's simulation of multi-arm designs with a binary endpoint, the reference for
# tests/engine/test_multiarm_rpact.py. Run from the repository root:
#     Rscript tests/engine/rpact/multiarm_simulation.R [case id ...]   # rpact 3.3.4, jsonlite
# Writes tests/engine/rpact/multiarm_simulation/<case id>.json (every case, or those named):
# the exact R call and what rpact reports (per-arm rejection over the stages, disjunctive power, the arms selected at
# each stage, expected number of subjects).
#
# The cases mirror tests/assets/multiarm.yaml: control mortality 0.40, two arms, 900
# patients (300 per arm), looks at 0.34 and 0.67 (102, 201, 300 per arm), one-sided
# alpha 0.025, selection by the estimated risk reduction (effectMeasure =
# "effectEstimate"); a deselected arm's patients are not replaced (cstrial's
# design.selection.keep_total: false). successCriterion = "all" (cstrial stops a trial
# when every arm has stopped). Early efficacy with selection is avoided in the selection
# cases (typeOfDesign = "noEarlyEfficacy"): rpact enrols one more stage after the last
# unrejected arm is deselected, cstrial does not (docs/multiarm.md).
suppressMessages(library(rpact))
library(jsonlite)

iterations <- 5000  # rpact's R loop: ~5 min per case on a busy core
info <- c(0.34, 0.67, 1)
obf <- "getDesignInverseNormal(kMax = 3, alpha = 0.025, typeOfDesign = 'asOF', informationRates = c(0.34, 0.67, 1))"
late <- "getDesignInverseNormal(kMax = 3, alpha = 0.025, typeOfDesign = 'noEarlyEfficacy', informationRates = c(0.34, 0.67, 1))"

cases <- list(
  list(id = "dunnett-all-obf-both-work", design = obf, rates = c(0.30, 0.32), test = "Dunnett",
       selection = "all", epsilon = NA, threshold = -Inf),
  list(id = "dunnett-all-obf-global-null", design = obf, rates = c(0.40, 0.40), test = "Dunnett",
       selection = "all", epsilon = NA, threshold = -Inf),
  list(id = "dunnett-best-late-both-work", design = late, rates = c(0.30, 0.32), test = "Dunnett",
       selection = "best", epsilon = NA, threshold = -Inf),
  list(id = "dunnett-best-late-global-null", design = late, rates = c(0.40, 0.40), test = "Dunnett",
       selection = "best", epsilon = NA, threshold = -Inf),
  list(id = "simes-epsilon-late-a-works", design = late, rates = c(0.28, 0.40), test = "Simes",
       selection = "epsilon", epsilon = 0.03, threshold = -Inf),
  list(id = "bonferroni-threshold-late-both-work", design = late, rates = c(0.30, 0.32),
       test = "Bonferroni", selection = "all", epsilon = NA, threshold = 0.02)
)

wanted <- commandArgs(trailingOnly = TRUE)
dir.create("tests/engine/rpact/multiarm_simulation", showWarnings = FALSE)
for (case in cases) {
  if (length(wanted) && !(case$id %in% wanted)) next
  call <- paste0(
    "getSimulationMultiArmRates(design = ", case$design, ", activeArms = 2, ",
    "effectMatrix = matrix(c(", case$rates[1], ", ", case$rates[2], "), nrow = 1), ",
    "typeOfShape = 'userDefined', piControl = 0.4, directionUpper = FALSE, ",
    "plannedSubjects = c(102, 201, 300), intersectionTest = '", case$test, "', ",
    "typeOfSelection = '", case$selection, "', ",
    if (!is.na(case$epsilon)) paste0("epsilonValue = ", case$epsilon, ", ") else "",
    if (is.finite(case$threshold)) paste0("threshold = ", case$threshold, ", ") else "",
    "effectMeasure = 'effectEstimate', successCriterion = 'all', ",
    "maxNumberOfIterations = ", iterations, ", seed = 16)"
  )
  sim <- eval(parse(text = call))
  rejected <- apply(sim$rejectedArmsPerStage[, 1, , drop = FALSE], 3, sum)
  selected <- sim$selectedArms[, 1, 1:2]  # stage x arm
  out <- list(
    id = case$id,
    call = call,
    rates = case$rates,
    test = case$test,
    selection = case$selection,
    epsilon = case$epsilon,
    threshold = if (is.finite(case$threshold)) case$threshold else NULL,
    early_efficacy = case$design == obf,
    iterations = iterations,
    rejected = rejected,
    reject_at_least_one = sim$rejectAtLeastOne[1],
    selected = selected,
    expected_subjects = sim$expectedNumberOfSubjects[1]
  )
  write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
        file.path("tests/engine/rpact/multiarm_simulation", paste0(case$id, ".json")))
  cat(case$id, "done\n")
}
