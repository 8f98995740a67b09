"""prelabel's AutoML engine for text classification (numpy / scikit-learn / Optuna only).

``AutoTextClassifier`` searches a portfolio of TF-IDF and sentence-embedding models under a time budget,
blends the best configurations by ensemble selection and calibrates the blend's probabilities. Importing this
package does not import torch: sentence embeddings are loaded only when a fit or prediction needs them.
"""

from prelabel.automl.estimator import AutoTextClassifier
from prelabel.automl.persistence import IncompatibleModelError, read_metadata

__all__ = ["AutoTextClassifier", "IncompatibleModelError", "read_metadata"]
