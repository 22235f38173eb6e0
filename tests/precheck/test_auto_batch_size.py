"""Without MaxRecordCount the explainer sizes its own batches: a container that cannot take a batch still explains."""

# Imported by the same absolute names as the other pre-check tests: a second copy of the conftest module would restart
# its resource-name counter and collide with their models.
import numpy as np
from tests.containers.layout_container import binary
from tests.precheck.conftest import csv_text, deploy, precheck, sample
from tests.precheck.test_layouts import attribution_sums, explain


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
