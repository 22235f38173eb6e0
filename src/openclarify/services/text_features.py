"""Kernel SHAP for a record with text features (spec §5.4): the players are the non-text features and the units of
every text column, and a synthetic record is the instance with masked players taken from a baseline row.

For a coalition z and a baseline row b, the synthetic record has:

- in a non-text column: the instance's value where the feature is in z, else b's value;
- in a text column: the instance's text with every unit outside z replaced by b's value of that column
  (``clarify.text.mask_texts``: adjacent masked units collapse into one replacement).

The model's output for z is the mean over the baseline rows. The empty coalition is scored like any other (with
text it differs from the baseline rows when a text has leading or trailing whitespace, or no units at all), except
that when every fully masked record equals its baseline row the cached baseline scores are used.

How rows reach the model is the caller's: ``score_rows`` takes records (tuples of raw cells, as parsed) and
returns their ``(n, D)`` scores, in process or through a container.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from openclarify.clarify.config import TextConfig
from openclarify.clarify.records import Record
from openclarify.clarify.response import FeatureAttributions, TextSpan, UnitAttribution
from openclarify.clarify.text import TEXT, TextUnit, mask_texts, split_units, text_of
from openclarify.errors import ModelError, ValidationError
from openclarify.kernelshap import (
    Explanation,
    clarify_n_samples,
    explain_game,
    group_arguments,
    group_baseline,
    store_group_means,
)

DEFAULT_MAX_TEXT_UNITS = 2000
# Characters of synthetic text built per step (for one record), so a long text never fills memory.
CHUNK_CHARACTERS = 32 * 1024 * 1024

ScoreRows = Callable[[Sequence[Record]], np.ndarray]


@dataclass(frozen=True)
class TextRecord:
    """One record split into players."""

    record: Record
    feature_types: tuple[str, ...]
    units: dict[int, tuple[TextUnit, ...]]
    """Text column -> its units."""
    columns: tuple[int, ...]
    """Non-text columns that are players (those equal to the instance in every baseline row are not: exactly 0)."""
    slices: dict[int, slice]
    """Column -> its players' positions."""

    @property
    def n_players(self) -> int:
        return len(self.columns) + sum(len(u) for u in self.units.values())


def split_record(
    record: Record,
    number: int,
    feature_types: Sequence[str],
    text_config: TextConfig,
    baseline_rows: Sequence[Record],
    max_units: int,
) -> TextRecord:
    """Split every text column of ``record`` (request record ``number``, 1-based) into units. ValidationError when a
    text cell holds no text (``clarify.text.text_of``), cannot be split, or the record has more than ``max_units``
    units in all. The record kept holds each text cell as the text the model is given for it (``5`` as ``"5"``), so
    masking works on the same string the units were read from."""
    cells = list(record)
    units: dict[int, tuple[TextUnit, ...]] = {}
    columns: list[int] = []
    slices: dict[int, slice] = {}
    position = 0
    total = 0
    for j, kind in enumerate(feature_types):
        value = record[j]
        if kind == TEXT:
            value = cells[j] = text_of(value, f"Record {number}", j)
            try:
                split = split_units(value, text_config.language, text_config.granularity)
            except ValidationError as exc:
                raise ValidationError(f"Record {number}, column {j + 1}: {exc.message}") from exc
            total += len(split)
            if total > max_units:
                raise ValidationError(
                    f"Record {number} has more than {max_units} text units at {text_config.granularity} granularity; "
                    f"this server explains at most {max_units} per record (setting max_text_units). Use a coarser "
                    "Granularity or send shorter text."
                )
            units[j] = split
            slices[j] = slice(position, position + len(split))
            position += len(split)
        elif any(row[j] != value for row in baseline_rows):
            columns.append(j)
            slices[j] = slice(position, position + 1)
            position += 1
    return TextRecord(tuple(cells), tuple(feature_types), units, tuple(columns), slices)


def synthetic_rows(text: TextRecord, baseline_rows: Sequence[Record], masks: np.ndarray) -> list[Record]:
    """Row ``s * len(baseline_rows) + b`` is coalition ``s`` over baseline row ``b`` (as ``synthetic_lines``).

    Built column by column for every coalition at once: each text column's texts by ``mask_texts``, each other
    column the record's value where the coalition takes it and the baseline row's elsewhere; the rows are then
    zipped from the columns."""
    record = text.record
    masks = np.asarray(masks, dtype=bool)
    n = masks.shape[0]
    taken = {j: masks[:, text.slices[j].start].tolist() for j in text.columns}
    texts: dict[tuple[int, str], list[str]] = {}
    per_base: list[list[Record]] = []
    for base in baseline_rows:
        columns: list[Sequence[Any]] = []
        for j, value in enumerate(base):
            if j in text.units:
                replacement = value if isinstance(value, str) else str(value)
                key = (j, replacement)
                if key not in texts:
                    texts[key] = mask_texts(record[j], text.units[j], masks[:, text.slices[j]], replacement)
                columns.append(texts[key])
            elif j in taken:
                mine = record[j]
                columns.append([mine if take else value for take in taken[j]])
            else:
                columns.append((value,) * n)
        per_base.append(list(zip(*columns, strict=True)))
    if len(per_base) == 1:
        return per_base[0]
    return [row for rows in zip(*per_base, strict=True) for row in rows]


def explain_text(
    text: TextRecord,
    baseline_rows: Sequence[Record],
    score_rows: ScoreRows,
    *,
    fx: np.ndarray,
    base_scores: np.ndarray,
    number_of_samples: int | None,
    seed: int,
    link: str,
    max_rows: int,
    check: Callable[[], None],
    should_stop: Callable[[], bool] | None = None,
    designs: MutableMapping[tuple, Any] | None = None,
    errors: bool = True,
    max_design_cells: int | None = None,
) -> Explanation:
    """Kernel SHAP over the record's players. ``max_rows`` bounds the synthetic records built per step;
    ``errors=False`` skips the standard errors."""
    b = len(baseline_rows)
    m = text.n_players
    d = fx.shape[0]
    characters = sum(len(str(cell)) for cell in text.record) + max(sum(len(str(c)) for c in r) for r in baseline_rows)
    per_step = max(1, min(max_rows, CHUNK_CHARACTERS // max(1, characters)) // b)

    empty_rows = synthetic_rows(text, baseline_rows, np.zeros((1, m), dtype=bool))
    if [tuple(r) for r in empty_rows] == [tuple(r) for r in baseline_rows]:
        empty_scores = base_scores
        extra_rows = 0
    else:
        empty_scores = _checked(score_rows(empty_rows), b, d)
        extra_rows = b
    budget = clarify_n_samples(m, number_of_samples) if m >= 1 else 0
    groups = group_baseline(b, m, budget, link)  # type: ignore[arg-type]
    group_rows = [[baseline_rows[i] for i in members] for members in groups]

    def values(design: Any) -> tuple[np.ndarray, int]:
        out = np.empty((design.n_coalitions, d))
        sent = 0
        for start, masks in design.mask_chunks(per_step):
            check()
            parts = design.chunk_by_group(start, masks)
            rows = [row for g, _, part in parts for row in synthetic_rows(text, group_rows[g], part)]
            scores = _checked(score_rows(rows), len(rows), d)
            store_group_means(out, scores, parts, [len(r) for r in group_rows])
            sent += len(rows)
        return out, sent

    result = explain_game(
        values,
        n_players=m,
        v_full=fx,
        v_empty=empty_scores.mean(axis=0),
        budget=budget,
        seed=seed,
        link=link,  # type: ignore[arg-type]
        rows_per_coalition=max(len(r) for r in group_rows),
        **group_arguments(groups, empty_scores),
        should_stop=should_stop,
        designs=designs,
        errors=errors,
        max_design_cells=max_design_cells,
    )
    return replace(result, model_rows=result.model_rows + extra_rows) if extra_rows else result


def _checked(scores: np.ndarray, n_rows: int, d: int) -> np.ndarray:
    if scores.shape != (n_rows, d):
        raise ModelError(f"The model gave {scores.shape[1]} scores per synthetic record but {d} for the record itself.")
    return scores


def feature_attributions(text: TextRecord, phi: np.ndarray) -> tuple[FeatureAttributions, ...]:
    """One object per column: one attribution per unit for text columns (with ``description``), a single one for
    the others (exactly 0 for non-players)."""
    d = phi.shape[1]
    features = []
    for j, kind in enumerate(text.feature_types):
        if kind == TEXT:
            units = text.units[j]
            block = phi[text.slices[j]]
            attributions = tuple(
                UnitAttribution(tuple(float(v) for v in row), TextSpan(unit.text, unit.start))
                for unit, row in zip(units, block, strict=True)
            )
        else:
            row = phi[text.slices[j].start] if j in text.slices else np.zeros(d)
            attributions = (UnitAttribution(tuple(float(v) for v in row)),)
        features.append(FeatureAttributions(attributions=attributions, feature_type=kind))
    return tuple(features)
