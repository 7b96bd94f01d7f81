"""Built-in model types; importing this package registers each of them.

Anomaly (fitted on a healthy baseline): ``robust_zscore``, ``pca``, ``isolation_forest``.
Classification: ``bearing_defect`` (bearing defect-frequency features).
"""

from shopfloor.ml.models.bearing_defect import BearingDefectClassifier
from shopfloor.ml.models.isolation_forest import IsolationForestModel
from shopfloor.ml.models.pca import PCAModel
from shopfloor.ml.models.robust_zscore import RobustZScore

__all__ = ["BearingDefectClassifier", "IsolationForestModel", "PCAModel", "RobustZScore"]
