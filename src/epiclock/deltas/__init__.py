"""Within-donor age deltas per condition and contrasts (``contrasts``: design, paired and mixed models)."""

from epiclock.deltas.contrasts import (  # noqa: F401
    CONTRAST_COLUMNS,
    MIN_PAIRS_FOR_TEST,
    RESIDUAL_MIN_DISTINCT_AGES,
    RESIDUAL_MIN_AGE_SPAN_YEARS,
    CHIP_LIKELIHOOD_GAIN,
    CHIP_START_RATIO,
    Design,
    Contrast,
    check_design,
    check_contrasts,
    assign_cells,
    condition_labels,
    per_sample,
    residual_age_acceleration,
    per_condition,
    paired_test,
    mixed_model_contrast,
    contrast_table,
    benjamini_hochberg,
)
