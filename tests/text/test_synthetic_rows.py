"""The synthetic records of a record with text and other columns, over several baseline rows, as Clarify lays them
out: row ``s * B + b`` is coalition ``s`` over baseline row ``b``."""

from __future__ import annotations

import numpy as np
from tests.text.test_splitter import reference_mask

from openclarify.clarify.config import TextConfig
from openclarify.services.text_features import split_record, synthetic_rows


def test_rows_take_each_column_from_the_record_or_the_baseline_row_as_the_coalition_says():
    record = ("These were really baggy, sent back.", 4.0, "kept", 7)
    # Column 3 equals the record in every baseline row: not a player, always the baseline row's value.
    baseline = [("<UNK>", 1.0, "", 7), ("", 2.0, "x", 7), (5, 1.0, "y", 7)]
    text = split_record(record, 1, ("text", "numerical", "text", "numerical"), TextConfig("en", "token"), baseline, 100)
    assert text.columns == (1,)
    m = text.n_players
    masks = np.random.default_rng(3).random((40, m)) < 0.5
    rows = synthetic_rows(text, baseline, masks)

    expected = []
    for mask in masks:
        for base in baseline:
            cells = list(base)
            for j, units in text.units.items():
                replacement = base[j] if isinstance(base[j], str) else str(base[j])
                cells[j] = reference_mask(text.record[j], units, mask[text.slices[j]], replacement)
            if mask[text.slices[1].start]:
                cells[1] = record[1]
            expected.append(tuple(cells))
    assert rows == expected
    assert len(rows) == len(masks) * len(baseline)
