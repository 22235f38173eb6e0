"""An ExplainerConfig as a person reads it, and what the playground needs to build a record form.

Works on the CreateEndpointConfig request as stored (what DescribeEndpointConfig echoes), so the console shows
exactly what was submitted, with the values Clarify would use by default spelled out.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openclarify.kernelshap import all_coalitions, clarify_n_samples


def _clarify(config: dict[str, Any]) -> dict[str, Any] | None:
    return (config.get("ExplainerConfig") or {}).get("ClarifyExplainerConfig")


def _baseline_rows(shap: dict[str, Any]) -> list[str]:
    inline = (shap.get("ShapBaselineConfig") or {}).get("ShapBaseline")
    return [line for line in (inline or "").splitlines() if line.strip()]


def _width(line: str, mime: str, features_attribute: str | None) -> int | None:
    try:
        if "json" in mime:
            value = json.loads(line)
            if isinstance(value, dict) and features_attribute:
                value = value.get(features_attribute)
            return len(value) if isinstance(value, list) else None
        return len(next(csv.reader(io.StringIO(line))))
    except (ValueError, StopIteration):
        return None


def _budget_note(width: int | None, samples: int | None) -> str:
    if not width:
        return "coalitions evaluated per record"
    budget = clarify_n_samples(width, samples)
    exact = budget >= all_coalitions(width)
    return f"{budget} coalitions for {width} features: " + (
        "every coalition, so exact Shapley values" if exact else "sampled, with error bars"
    )


def _text_budget_note(samples: int | None, feature_types: list[str] | None) -> str:
    """With TextConfig the players are each record's text units plus the non-text features (docs/text.md), so M,
    and with it the budget, is known only per record: say up to how many players the budget is exact."""
    exact_up_to = 1
    while clarify_n_samples(exact_up_to + 1, samples) >= all_coalitions(exact_up_to + 1):
        exact_up_to += 1
    others = sum(t != "text" for t in feature_types) if feature_types else None
    plus = " plus any non-text features" if others is None else f" plus {others} non-text feature(s)" if others else ""
    rule = f"min({samples}, 2^M − 2)" if samples is not None else "min(2M + 2048, 2^M − 2)"
    return (
        f"the players (M) are the text units of each record{plus}, so the budget depends on the record: {rule} "
        f"coalitions; every coalition (exact Shapley values) up to {exact_up_to} players, sampled with error bars "
        "beyond"
    )


def summary(config: dict[str, Any]) -> dict[str, Any] | None:
    """Rows of (setting, value, meaning) for the detail pages; None without an ExplainerConfig."""
    clarify = _clarify(config)
    if clarify is None:
        return None
    inference = clarify.get("InferenceConfig") or {}
    shap = clarify.get("ShapConfig") or {}
    baseline_config = shap.get("ShapBaselineConfig") or {}
    mime = baseline_config.get("MimeType") or "text/csv"
    rows = _baseline_rows(shap)
    headers = inference.get("FeatureHeaders")
    width = len(headers) if headers else (_width(rows[0], mime, inference.get("FeaturesAttribute")) if rows else None)
    samples = shap.get("NumberOfSamples")
    items: list[dict[str, str]] = []

    def add(setting: str, value: Any, meaning: str) -> None:
        items.append(
            {"setting": setting, "value": value if isinstance(value, str) else json.dumps(value), "meaning": meaning}
        )

    add(
        "EnableExplanations",
        clarify.get("EnableExplanations", "`true`"),
        "JMESPath over each record's model output: which records get explained (default: all)",
    )
    if rows:
        add(
            "Baseline",
            f"{len(rows)} inline row(s), {mime}",
            "attributions are measured against the model's average prediction over these rows",
        )
    elif baseline_config.get("ShapBaselineUri"):
        add("Baseline", baseline_config["ShapBaselineUri"], f"read when the endpoint deploys ({mime})")
    else:
        add("Baseline", "none given", "Clarify needs a baseline: deployment fails without one")
    add(
        "NumberOfSamples",
        samples if samples is not None else "default (2M + 2048)",
        _text_budget_note(samples, inference.get("FeatureTypes"))
        if shap.get("TextConfig")
        else _budget_note(width, samples),
    )
    add("UseLogit", bool(shap.get("UseLogit", False)), "explain log-odds instead of probabilities when true")
    add("Seed", shap.get("Seed", "random per request"), "fixes the sample so answers repeat")
    if shap.get("TextConfig"):
        text = shap["TextConfig"]
        add(
            "TextConfig",
            f"{text.get('Granularity')} ({text.get('Language')})",
            "text features are split into units of this granularity; each unit gets an attribution",
        )
    for key, meaning in (
        ("FeatureHeaders", "names of the features, in record order"),
        ("FeatureTypes", "numerical, categorical or text, per feature"),
        ("LabelHeaders", "names of the model's outputs"),
        ("ProbabilityIndex", "which CSV column of the model's output is the score explained"),
        ("LabelIndex", "which CSV column of the model's output is the label"),
        ("ProbabilityAttribute", "JMESPath to the score in a JSON model output"),
        ("LabelAttribute", "JMESPath to the label in a JSON model output"),
        ("FeaturesAttribute", "JMESPath to the features in a JSON Lines record"),
        ("ContentTemplate", "how synthetic JSON Lines records are written"),
        ("MaxRecordCount", "most records per request to the model"),
        ("MaxPayloadInMB", "largest request to the model"),
    ):
        if key in inference:
            add(key, inference[key], meaning)
    return {"features": width, "items": items, "raw": clarify}


def playground_spec(config: dict[str, Any]) -> dict[str, Any]:
    """Features for the record form and an example record (the first baseline row) to start from.

    No other record is known, so with a one-row baseline the example is the baseline itself, explained against itself:
    ``example_explains_to_zero`` says so, for the page to tell the reader before the first Invoke shows only zeros.
    Not with a TextConfig, where masked units become the baseline's text, so a record equal to it still has nonzero
    units."""
    clarify = _clarify(config)
    if clarify is None:
        return {
            "explainer": False,
            "features": [],
            "content_type": "text/csv",
            "example": "",
            "baseline_rows": 0,
            "example_explains_to_zero": False,
        }
    inference = clarify.get("InferenceConfig") or {}
    shap = clarify.get("ShapConfig") or {}
    mime = (shap.get("ShapBaselineConfig") or {}).get("MimeType") or "text/csv"
    rows = _baseline_rows(shap)
    headers = inference.get("FeatureHeaders")
    width = len(headers) if headers else (_width(rows[0], mime, inference.get("FeaturesAttribute")) if rows else 0)
    types = inference.get("FeatureTypes") or []
    names = headers or [f"feature {j + 1}" for j in range(width or 0)]
    features = [{"name": n, "type": types[j] if j < len(types) else "numerical"} for j, n in enumerate(names)]
    return {
        "explainer": True,
        "features": features,
        "content_type": "application/jsonlines" if "json" in mime else "text/csv",
        "features_attribute": inference.get("FeaturesAttribute"),
        "label_headers": inference.get("LabelHeaders"),
        "example": rows[0] if rows else "",
        "baseline_rows": len(rows),
        "example_explains_to_zero": len(rows) == 1 and not shap.get("TextConfig"),
        "form": bool(features) and not inference.get("ContentTemplate"),
    }
