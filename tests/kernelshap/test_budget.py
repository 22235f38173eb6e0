import pytest

from openclarify.kernelshap import all_coalitions, clarify_n_samples


@pytest.mark.parametrize(
    ("n_features", "number_of_samples", "expected"),
    [
        (10, None, 1022),  # Clarify's doc: 10 features, baseline 1 -> 1022 synthetic records
        (20, None, 2088),  # and 20 features -> 2088
        (14, None, 2076),  # the tabular notebook
        (4, None, 14),  # the NLP notebook's 4 sentences
        (5, 100, 30),  # the doc's 5-token example with NumberOfSamples 100
        (6, None, 62),  # the multi-model endpoint example: exact
        (11, None, 2046),  # shap's default budget covers M = 11 completely
        (12, None, 2072),
        (100, None, 2248),
        (30, 5000, 5000),
        (3, 1, 1),
    ],
)
def test_clarify_budget_rule(n_features, number_of_samples, expected):
    assert clarify_n_samples(n_features, number_of_samples) == expected


def test_all_coalitions_is_exact_for_wide_records():
    assert all_coalitions(200) == 2**200 - 2
    assert clarify_n_samples(200, 10**50) == 10**50
    assert clarify_n_samples(200, 10**80) == 2**200 - 2


@pytest.mark.parametrize(("n_features", "number_of_samples"), [(0, None), (-1, 5), (3, 0), (3, -2)])
def test_budget_rejects_nonsense(n_features, number_of_samples):
    with pytest.raises(ValueError, match="at least 1"):
        clarify_n_samples(n_features, number_of_samples)
