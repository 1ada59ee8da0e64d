"""The motorcycle data's specification: which columns are linear, random and excluded instruments.

The defaults of :class:`course_lib.gmm.BLPProblem` (pyBLP's order for the motorcycle data).
"""

__all__ = ["X1_NAMES", "X2_NAMES", "EXCLUDED_NAMES"]

X1_NAMES = ("1", "prices", "EngineSize", "SportsBike", "Brand2", "Brand3")
X2_NAMES = ("prices", "EngineSize")
EXCLUDED_NAMES = ("demand_instruments0", "demand_instruments1", "demand_instruments2", "demand_instruments3")
