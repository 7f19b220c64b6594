"""Limits that no real design reaches, so that no protocol the schema accepts can overflow,
exhaust memory or run for ever. Each is said in the error that enforces it.

The numeric fields' own bounds live beside them in `models`, `effects` and
`criteria` (every numeric field declares both a lower and an upper bound); here
are the limits that span fields, checked in `validate` before any work.
"""

from __future__ import annotations

MAX_SAMPLE_SIZE = 1_000_000
"""Patients in one trial: ten times the largest cardiovascular outcome trial ever run."""

MAX_ALLOCATION = 100
"""The largest share of one arm in the randomisation ratio (2:1 is written 2 and 1)."""

MAX_N_SIMS = 100_000_000
"""Replicate trials per scenario: 10^8 keeps the Monte Carlo SE of any power below 0.00005."""

MAX_SEED = 2**63 - 1
"""Seeds are stored as 64-bit integers in the manifest and the Parquet metadata."""

MAX_CHUNK_SIZE = 1_000_000
"""Replicate trials simulated together by one worker."""

MAX_SAVE_PATIENTS = 10_000
"""Replicates whose patients are written to patients.parquet."""

MAX_PATIENTS_PER_CHUNK = 20_000_000
"""Replicates × patients one worker holds in memory at once: about 150 bytes of working
memory each, so 20 million is about 3 GiB."""

MAX_ENROLMENT_MONTHS = 600.0
"""Months of enrolment (ramp-up included): 50 years, longer than any trial has enrolled."""

MIN_LOOK_SPACING = 0.01
"""The smallest step of information between looks (and before the first): closer looks see
the same data."""

MAX_NAME_LENGTH = 64
"""Characters in a protocol, scenario, arm or endpoint name (it becomes a folder or a column)."""

MAX_TEXT_LENGTH = 2_000
"""Characters in free text (the title)."""

MAX_POPULATIONS = 64
"""Distinct eligible populations (inclusion/exclusion) over a protocol's scenarios and grid:
each needs its own reference population of 200,000 eligible patients (seconds each)."""
