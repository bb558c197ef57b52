"""``zoo reproduce``: the GMN-representations study (Yeom & Lee 2025) from one command.

Profiles (:mod:`zoo.study.profiles`) say what to train; :func:`reproduce` trains what is
missing in parallel workers and hands the rest to :mod:`analysis.study`.
"""

from zoo.study.profiles import PROFILES, Profile, estimate_seconds, parse_overrides, roles
from zoo.study.run import Reporter, StudyResult, reproduce

__all__ = ["PROFILES", "Profile", "Reporter", "StudyResult", "estimate_seconds",
           "parse_overrides", "reproduce", "roles"]
