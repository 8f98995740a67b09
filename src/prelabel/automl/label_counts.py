"""How many labels each step of the AutoML engine waits for: the label counts in one place.

Read top to bottom, this is the path of a new project (docs/coldstart.md explains it to users). Two steps
are project settings rather than engine constants, because a project admin may change them: the first fast
model at ``train_min_labels`` (10) and the first budgeted search at ``search_min_labels`` (100), both in
`prelabel.service.training.TRAINING_SETTINGS`.
"""

from __future__ import annotations

# 0 labels: zero-shot suggestions from the category names, descriptions and the job's question.

# The zero-shot model is judged against the labels' majority class on this many labels it never saw; below
# it the check cannot say no (`zeroshot.ZeroShotClassifier.check`).
MIN_LABELS_TO_CHECK = 5

# Below this, single-label fast models are calibrated by a temperature fitted on leave-one-out probabilities;
# from here on temperature scaling is a candidate chosen out of fold.
MIN_LABELS_FOR_SCALING = 20
# Below this, the honest estimate of a served model is leave-one-out (`honest.repeated_cv`).
LEAVE_ONE_OUT_BELOW = 20

# A search, and decision thresholds tuned for the project's metric, need this many labels, and single-label
# tasks this many per class; with fewer, `AutoTextClassifier` fits its fast model.
MIN_LABELS_FOR_SEARCH = 20
MIN_PER_CLASS_FOR_SEARCH = 3

# Calibration rows are weighted to the unlabeled pool only with this many labels and effective rows.
MIN_POOL_EFFECTIVE_ROWS = 20

# From here sigmoid and isotonic calibration are candidates too.
MIN_LABELS_FOR_CALIBRATION = 50

# The fast model's word TF-IDF block reaches its full weight beside the sentence vectors here
# (`estimator.auto_word_weight`).
FULL_WORD_WEIGHT_AT = 100

# Below this many labels per job, the score shown is the repeated cross-validation estimate with its
# interval; from here on, the classifier's own CV score.
HONEST_MAX_LABELS = 300

# A multi-label decision threshold is tuned only for a label with this many positives.
MIN_POSITIVES_TO_TUNE = 5
