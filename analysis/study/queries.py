"""The SQL behind every table and figure of a study's report (run with ``zoo sql``).

Each query is self-contained over the views of :mod:`analysis.sql`, selects the study's
models through ``study_models`` and takes each model's penultimate layer as the one
recorded before ``logits`` (what the ``penultimate`` alias resolves to), so the report
can print it under its table and a reader can rerun it verbatim.
"""

from __future__ import annotations

import pandas as pd

from analysis.similarity import CODE_VERSION
from analysis.sql import run_sql

__all__ = ["QUERIES", "run_query", "study_sql"]

_COMMON = """WITH study AS (SELECT id, probe_set_id FROM studies WHERE name = {study}),
members AS (SELECT model_id FROM study_models WHERE study_id = (SELECT id FROM study)),
ranked AS (SELECT model_id, layer, row_number() OVER (PARTITION BY model_id ORDER BY id DESC) AS r
           FROM activations WHERE probe_set_id = (SELECT probe_set_id FROM study)
           AND layer <> 'predictions' AND model_id IN (SELECT model_id FROM members)),
penultimate AS (SELECT model_id, layer FROM ranked WHERE r = 2),
cka AS (SELECT s.* FROM similarity_pairs s
        WHERE s.probe_set = (SELECT name FROM probe_sets
                             WHERE id = (SELECT probe_set_id FROM study))
        AND s.measure = 'linear_cka' AND s.estimator = 'biased'
        AND s.code_version = '{version}' AND s.model_a_id <> s.model_b_id
        AND s.model_a_id IN (SELECT model_id FROM members)
        AND s.model_b_id IN (SELECT model_id FROM members))
"""

QUERIES: dict[str, str] = {
    "setup": """SELECT d.name AS dataset, d.n_samples AS images, p.name AS population,
       p.n_inrs AS inrs, p.n_params AS params_per_inr, round(avg(x.value), 2) AS mean_psnr_db,
       round(min(x.value), 2) AS min_psnr_db, pr.name AS probe_set, pr.n_samples AS probe_samples
FROM studies s JOIN probe_sets pr ON pr.id = s.probe_set_id
JOIN datasets d ON d.id = pr.dataset_id
LEFT JOIN populations p ON p.id = s.population_id
LEFT JOIN models i ON i.population_id = p.id AND i.kind = 'inr'
LEFT JOIN metrics x ON x.model_id = i.id AND x.name = 'psnr'
WHERE s.name = {study} GROUP BY ALL""",
    "models": """, probe_acc AS (
  SELECT model_a_id AS model_id, any_value(acc_a) AS acc FROM prediction_agreements
  WHERE probe_set_id = (SELECT probe_set_id FROM study) GROUP BY ALL
  UNION SELECT model_b_id, any_value(acc_b) FROM prediction_agreements
  WHERE probe_set_id = (SELECT probe_set_id FROM study) GROUP BY ALL)
SELECT m.id, m.kind, m.seed, (m.config->'train'->>'epochs')::INT AS epochs,
       (m.config->>'best_epoch')::INT AS best_epoch,
       max(x.value) FILTER (WHERE x.name = 'test_acc') AS test_acc,
       max(a.acc) AS probe_acc,
       round(max(x.value) FILTER (WHERE x.name = 'train_seconds')) AS train_seconds
FROM members JOIN models m ON m.id = members.model_id
LEFT JOIN metrics x ON x.model_id = m.id LEFT JOIN probe_acc a ON a.model_id = m.id
GROUP BY ALL ORDER BY m.kind, m.seed""",
    "cka_kinds": """SELECT least(kind_a, kind_b) AS kind_1, greatest(kind_a, kind_b) AS kind_2,
       avg(value) AS mean_cka, stddev_samp(value) AS std, count(*) AS n_pairs
FROM cka JOIN penultimate pa ON pa.model_id = cka.model_a_id AND pa.layer = cka.layer_a
JOIN penultimate pb ON pb.model_id = cka.model_b_id AND pb.layer = cka.layer_b
GROUP BY ALL ORDER BY kind_1, kind_2""",
    "cka_matrix": """SELECT model_a_id, kind_a, seed_a, model_b_id, kind_b, seed_b, value
FROM cka JOIN penultimate pa ON pa.model_id = cka.model_a_id AND pa.layer = cka.layer_a
JOIN penultimate pb ON pb.model_id = cka.model_b_id AND pb.layer = cka.layer_b
ORDER BY model_a_id, model_b_id""",
    "cka_layers": """SELECT kind_a AS kind, layer_a, layer_b, avg(value) AS mean_cka,
       stddev_samp(value) AS std, count(*) AS n_pairs
FROM cka WHERE kind_a = kind_b GROUP BY ALL ORDER BY kind, layer_a, layer_b""",
    "agreement": """SELECT least(kind_a, kind_b) AS kind_1, greatest(kind_a, kind_b) AS kind_2,
       count(*) AS n_pairs, avg(agreement) AS agreement, stddev_samp(agreement) AS std,
       avg(kappa) AS kappa, avg(both_correct) AS both_correct,
       avg(CASE WHEN kind_a <= kind_b THEN only_a_correct ELSE only_b_correct END)
           AS only_1_correct,
       avg(CASE WHEN kind_a <= kind_b THEN only_b_correct ELSE only_a_correct END)
           AS only_2_correct,
       avg(neither_correct) AS neither_correct
FROM agreement_pairs WHERE probe_set_id = (SELECT probe_set_id FROM study)
AND model_a_id IN (SELECT model_id FROM members) AND model_b_id IN (SELECT model_id FROM members)
GROUP BY ALL ORDER BY kind_1, kind_2""",
    "ensembles": """SELECT least(kind_a, kind_b) AS kind_1, greatest(kind_a, kind_b) AS kind_2,
       count(*) AS n_pairs, avg(acc_a + acc_b) / 2 AS mean_member_acc,
       avg(greatest(acc_a, acc_b)) AS best_member_acc, avg(accuracy) AS ensemble_acc,
       avg(gain_best) AS gain_over_best, stddev_samp(gain_best) AS std
FROM ensemble_pairs WHERE probe_set_id = (SELECT probe_set_id FROM study)
AND method = 'mean_logits'
AND model_a_id IN (SELECT model_id FROM members) AND model_b_id IN (SELECT model_id FROM members)
GROUP BY ALL ORDER BY kind_1, kind_2""",
    "findings": """SELECT finding, f.name, label_a, value_a, label_b, value_b, difference, ci_low,
       ci_high, n_boot, verdict, reason
FROM findings f JOIN studies s ON s.id = f.study_id WHERE s.name = {study} ORDER BY finding""",
}
_STANDALONE = ("setup", "findings")


def study_sql(name: str, study: str) -> str:
    """The SQL text of query ``name`` for ``study``."""
    quoted = "'" + study.replace("'", "''") + "'"
    body = QUERIES[name].format(study=quoted)
    if name in _STANDALONE:
        return body
    common = _COMMON.format(study=quoted, version=CODE_VERSION)
    return common + body


def run_query(db_url: str, name: str, study: str) -> tuple[str, pd.DataFrame]:
    """``(sql, result)`` of query ``name`` for ``study``."""
    sql = study_sql(name, study)
    return sql, run_sql(db_url, sql)
