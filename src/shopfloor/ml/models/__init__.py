"""Built-in model types; importing this package registers each of them.

- Anomaly, fitted on a healthy baseline: ``robust_zscore``, ``pca``, ``isolation_forest``,
  ``gmm``, ``river_drift``.
- Classification, fitted on labelled windows: ``gradient_boosting``, ``random_forest``,
  ``bearing_defect`` (on bearing defect-frequency features).
- Images (:class:`~shopfloor.ml.base.ImageModel`): ``classical`` (texture features and
  an SVM, labelled images), ``cnn`` (a small convolutional network trained with torch,
  the ``vision`` extra, and scored as ONNX without it), ``good_only`` (distance to good
  parts' texture features), ``onnx_image`` (a user's own ONNX network, its confidence
  calibrated).

A new type is one module here with a registered class, imported below; the contract
suite (``shopfloor.testing.model_checks``) then runs over it.
"""

from shopfloor.ml.models.bearing_defect import BearingDefectClassifier
from shopfloor.ml.models.classical import ClassicalImageClassifier
from shopfloor.ml.models.cnn import CnnClassifier
from shopfloor.ml.models.gmm import GaussianMixtureModel
from shopfloor.ml.models.good_only import GoodOnlyModel
from shopfloor.ml.models.gradient_boosting import GradientBoostingModel
from shopfloor.ml.models.isolation_forest import IsolationForestModel
from shopfloor.ml.models.onnx_image import OnnxImageClassifier
from shopfloor.ml.models.pca import PCAModel
from shopfloor.ml.models.random_forest import RandomForestModel
from shopfloor.ml.models.river_drift import RiverDriftModel
from shopfloor.ml.models.robust_zscore import RobustZScore

__all__ = [
    "BearingDefectClassifier",
    "ClassicalImageClassifier",
    "CnnClassifier",
    "GaussianMixtureModel",
    "GoodOnlyModel",
    "GradientBoostingModel",
    "IsolationForestModel",
    "OnnxImageClassifier",
    "PCAModel",
    "RandomForestModel",
    "RiverDriftModel",
    "RobustZScore",
]
