"""Text features: one 50-token review explained with Clarify's default budget (2·50 + 2048 = 2148 coalitions),
baseline ``<UNK>``, a scikit-learn TfidfVectorizer + LogisticRegression pipeline in process (issue 6).

Per-record latency split into: tokenisation (spaCy blank English, tokenizer already loaded), masking and
serialisation (building the 2148 synthetic texts, then the CSV lines a container would get), model time
(``predict_proba`` on the synthetic texts), and the whole explanation as the server runs it in process.

    .venv/bin/python bench/text_bench.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from openclarify.clarify.config import TextConfig
from openclarify.clarify.records import serialize_rows
from openclarify.clarify.text import split_units, tokenizer
from openclarify.kernelshap import clarify_n_samples, plan_design
from openclarify.process import tune_for_serving
from openclarify.services.text_features import explain_text, split_record, synthetic_rows

REVIEW = (
    "I ordered a size small and the fabric quality is very nice, but these were really baggy in the thigh area "
    "and made my legs look bulky. My son said they looked like pajama pants and I agreed, so I sent them back "
    "after one day."
)
TRAIN = [
    ("I love this product, it works great.", 1),
    ("Excellent quality and very comfortable.", 1),
    ("The fabric quality is very nice and soft.", 1),
    ("Great fit, I would buy it again.", 1),
    ("These were really baggy and made my thighs look bulky.", 0),
    ("Terrible quality, it broke after one day.", 0),
    ("It looked like pajama pants, not flattering.", 0),
    ("Awful fit, I returned it.", 0),
]


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    # As the server runs explanations (openclarify.process): without it, numpy's BLAS threads make the fit's small
    # products at M = 50 about 10 ms instead of 0.7 on two cores.
    tune_for_serving()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit([t for t, _ in TRAIN], [y for _, y in TRAIN])
    config = TextConfig(language="en", granularity="token")
    baseline = [("<UNK>",)]
    tokenizer("en")  # loaded when the endpoint deploys, not per request

    t_tok, units = timed(lambda: split_units(REVIEW, "en", "token"), args.repeats)
    record = split_record((REVIEW,), 1, ("text",), config, baseline, 2000)
    m = record.n_players
    budget = clarify_n_samples(m)
    design = plan_design(m, budget, seed=1)
    masks = design.masks
    t_mask, rows = timed(lambda: synthetic_rows(record, baseline, masks), args.repeats)
    t_csv, _ = timed(lambda: serialize_rows(rows, "text/csv"), args.repeats)
    texts = [r[0] for r in rows]
    t_model, _ = timed(lambda: model.predict_proba(texts), args.repeats)

    def score(batch):
        return model.predict_proba([r[0] for r in batch])[:, 1:]

    fx = score([(REVIEW,)])[0]
    base = score(baseline)

    def run():
        return explain_text(
            record, baseline, score, fx=fx, base_scores=base, number_of_samples=None, seed=1, link="identity",
            max_rows=1 << 16, check=lambda: None,
        )  # fmt: skip

    t_all, result = timed(run, args.repeats)
    print(f"python {platform.python_version()}, {platform.machine()}, median of {args.repeats}")
    print(f"review: {len(REVIEW)} characters, {len(units)} tokens (M = {m}), {budget} coalitions")
    print(f"tokenisation (spaCy blank en)        {t_tok * 1e3:8.2f} ms")
    print(f"masking: {len(rows)} synthetic texts       {t_mask * 1e3:8.2f} ms")
    print(f"serialisation to CSV lines            {t_csv * 1e3:8.2f} ms")
    print(f"model: predict_proba on them          {t_model * 1e3:8.2f} ms")
    print(f"whole explanation (in process)        {t_all * 1e3:8.2f} ms  (model rows {result.model_rows})")
    assert np.isclose(result.attributions.sum(), fx[0] - base[0, 0])


if __name__ == "__main__":
    main()
