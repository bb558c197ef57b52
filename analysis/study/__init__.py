"""The GMN-representations study (Yeom & Lee 2025) over a catalog: stored prediction
agreements and ensembles, bootstrap verdicts on its four findings, and the report.

Reads everything through :mod:`store` (and DuckDB for the aggregates); trains nothing.
"""

from analysis.study.findings import FINDINGS, StudyRoles, judge_study
from analysis.study.pairs import PAIRS_CODE_VERSION, store_pair_stats

__all__ = ["FINDINGS", "PAIRS_CODE_VERSION", "StudyRoles", "judge_study", "store_pair_stats"]
