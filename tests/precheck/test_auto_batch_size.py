"""Without MaxRecordCount the explainer sizes its own batches: a container that cannot take a batch still explains."""

import numpy as np

from .conftest import csv_text, deploy, precheck, sample
from .test_behaviours import attribution_sums, binary, explain


def test_a_container_that_cannot_batch_is_explained_without_max_record_count(containers, sagemaker, sagemaker_runtime):
    container = containers("label-probability", "--no-batch")
    rows = sample()
    config = precheck(container.url, csv_text(rows)).explainer_config
    inference = config["ClarifyExplainerConfig"]["InferenceConfig"]
    assert inference.pop("MaxRecordCount") == 1  # the pre-check's advice, dropped on purpose here
    endpoint = deploy(sagemaker, {"Image": container.url}, config)

    # One record: the client's own request goes to the container unchanged, as Clarify forwards it. The
    # synthetic records are the explainer's to batch, and this container refuses every batch of two or more.
    payload = explain(sagemaker_runtime, endpoint, csv_text(rows[:1]), "text/csv")

    baseline = np.array(
        [
            float(v)
            for v in config["ClarifyExplainerConfig"]["ShapConfig"]["ShapBaselineConfig"]["ShapBaseline"].split(",")
        ]
    )
    expected = [binary(list(row)) - binary(list(baseline)) for row in rows[:1]]
    assert np.allclose(attribution_sums(payload), expected, atol=1e-9)
