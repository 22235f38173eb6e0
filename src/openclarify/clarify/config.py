"""``ExplainerConfig``: the semantic checks of spec §1.3, and typed settings with Clarify's defaults filled in.

Generic shape checks (types, lengths, ranges, enums, patterns) come from botocore's service model elsewhere; this
module adds only what the model cannot express. Errors are ``ValidationException`` (HTTP 400 at
CreateEndpointConfig) with the offending member's path in the message and in ``details["member"]``.

The submitted dict is never modified: Describe* must echo it exactly as sent (spec §1.4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openclarify.clarify._jmespath import InvalidExpression, compile_expression
from openclarify.clarify.baseline import SUPPORTED_MIME_TYPES, parse_baseline
from openclarify.clarify.records import CSV, FEATURES_PLACEHOLDER, media_type
from openclarify.errors import ValidationException, java_str

ROOT = "ExplainerConfig.ClarifyExplainerConfig"
INFERENCE = f"{ROOT}.InferenceConfig"
SHAP = f"{ROOT}.ShapConfig"
BASELINE = f"{SHAP}.ShapBaselineConfig"

DEFAULT_ENABLE_EXPLANATIONS = "`true`"
DEFAULT_MAX_PAYLOAD_IN_MB = 6
DEFAULT_BASELINE_MIME_TYPE = CSV
FEATURE_TYPES = ("numerical", "categorical", "text")


@dataclass(frozen=True)
class TextConfig:
    language: str
    granularity: str


@dataclass(frozen=True)
class BaselineConfig:
    """Exactly one of ``inline`` (``ShapBaseline``) and ``uri`` (``ShapBaselineUri``) is set."""

    mime_type: str = DEFAULT_BASELINE_MIME_TYPE
    inline: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class ShapConfig:
    baseline: BaselineConfig
    number_of_samples: int | None = None
    use_logit: bool = False
    seed: int | None = None
    text: TextConfig | None = None


@dataclass(frozen=True)
class InferenceConfig:
    features_attribute: str | None = None
    content_template: str | None = None
    max_record_count: int | None = None
    max_payload_in_mb: int = DEFAULT_MAX_PAYLOAD_IN_MB
    probability_index: int | None = None
    label_index: int | None = None
    probability_attribute: str | None = None
    label_attribute: str | None = None
    label_headers: tuple[str, ...] | None = None
    feature_headers: tuple[str, ...] | None = None
    feature_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ClarifyConfig:
    """``ClarifyExplainerConfig`` with defaults filled in. ``enable_explanations`` is the config's expression."""

    shap: ShapConfig
    inference: InferenceConfig = InferenceConfig()
    enable_explanations: str = DEFAULT_ENABLE_EXPLANATIONS

    @property
    def nlp(self) -> bool:
        """Text explainability: responses then carry ``feature_type`` (spec §4.1)."""
        return self.shap.text is not None or bool(
            self.inference.feature_types and "text" in self.inference.feature_types
        )


def _invalid(member: str, reason: str, value: Any = None) -> ValidationException:
    """AWS's validation message, as the shape checks word theirs: the member path in lowerCamelCase
    (``explainerConfig.clarifyExplainerConfig.…``, spec §1.3) and the value printed Java-style (``[numerical, text]``).
    ``details["member"]`` keeps the API's own spelling of the path."""
    at = ".".join(part[:1].lower() + part[1:] for part in member.split("."))
    shown = "" if value is None else f"Value '{java_str(value)}' at "
    return ValidationException(
        f"1 validation error detected: {shown}'{at}' failed to satisfy constraint: {reason}", member=member
    )


def _compile_jmespath(member: str, expression: Any) -> None:
    if expression is None:
        return
    try:
        compile_expression(expression)
    except InvalidExpression as exc:
        raise _invalid(member, f"Member must be a valid JMESPath expression ({exc})", expression) from exc


def validate_explainer_config(explainer_config: Mapping[str, Any]) -> None:
    """Reject what spec §1.3 says CreateEndpointConfig rejects beyond botocore's shapes. Returns None when valid.

    Assumes the generic shape validation has already run (required members present, types right).
    """
    clarify = explainer_config.get("ClarifyExplainerConfig")
    if clarify is None:
        return
    inference = clarify.get("InferenceConfig") or {}
    shap = clarify.get("ShapConfig") or {}
    baseline = shap.get("ShapBaselineConfig") or {}

    # The doc: "If the JMESPath expression that you supplied is not valid, the endpoint creation will fail." We fail
    # earlier, at CreateEndpointConfig, which the spec (§1.3) accepts as a simplification.
    _compile_jmespath(f"{ROOT}.EnableExplanations", clarify.get("EnableExplanations"))
    for name in ("FeaturesAttribute", "ProbabilityAttribute", "LabelAttribute"):
        _compile_jmespath(f"{INFERENCE}.{name}", inference.get(name))

    template = inference.get("ContentTemplate")
    if template is not None:
        _validate_content_template(template)

    feature_headers = inference.get("FeatureHeaders")
    feature_types = inference.get("FeatureTypes")
    if feature_types is not None and "text" not in feature_types:
        # Documented: "If provided, FeatureTypes must have at least one 'text' string".
        raise _invalid(
            f"{INFERENCE}.FeatureTypes",
            "FeatureTypes applies only to NLP explainability and must contain at least one 'text' item",
            feature_types,
        )
    if feature_types is not None and shap.get("TextConfig") is None:
        # [INF] A text feature cannot be split into units without a Granularity, so ask for TextConfig now rather
        # than fail every invocation.
        raise _invalid(
            f"{SHAP}.TextConfig",
            "TextConfig (Language and Granularity) is required when FeatureTypes contains 'text'",
        )
    if feature_headers is not None and feature_types is not None and len(feature_headers) != len(feature_types):
        raise _invalid(
            f"{INFERENCE}.FeatureTypes",
            f"FeatureTypes has {len(feature_types)} items but FeatureHeaders has {len(feature_headers)}; "
            "give one type per feature",
        )

    has_inline = baseline.get("ShapBaseline") is not None
    has_uri = baseline.get("ShapBaselineUri") is not None
    if has_inline == has_uri:
        which = "both were given" if has_inline else "neither was given"
        raise _invalid(BASELINE, f"Exactly one of ShapBaseline and ShapBaselineUri must be provided; {which}")

    mime_type = baseline.get("MimeType")
    if mime_type is not None and media_type(mime_type) not in SUPPORTED_MIME_TYPES:
        raise _invalid(
            f"{BASELINE}.MimeType",
            "Member must be one of the supported MIME types: [text/csv, application/jsonlines]",
            mime_type,
        )

    if has_inline:
        member = f"{BASELINE}.ShapBaseline"
        try:
            parsed = parse_baseline(
                baseline["ShapBaseline"], mime_type, inference.get("FeaturesAttribute"), source="ShapBaseline"
            )
        except ValidationException as exc:
            raise _invalid(member, f"Member must be valid baseline data ({exc.message.rstrip('.')})") from exc
        for name, values in (("FeatureHeaders", feature_headers), ("FeatureTypes", feature_types)):
            if values is not None and len(values) != parsed.width:
                raise _invalid(
                    f"{INFERENCE}.{name}",
                    f"{name} has {len(values)} items but the ShapBaseline rows have {parsed.width} features; "
                    "give one item per feature",
                )


def _validate_content_template(template: str) -> None:
    member = f"{INFERENCE}.ContentTemplate"
    if FEATURES_PLACEHOLDER not in template:
        raise _invalid(member, "Member must contain the placeholder $features", template)
    # [INF] The template produces one JSON Lines record, so with a sample feature list in place it must be one valid
    # JSON document on one line. Catching this here beats a ModelError on every invocation.
    sample = template.replace(FEATURES_PLACEHOLDER, "[0]")
    if "\n" in sample or "\r" in sample:
        raise _invalid(member, "Member must be a single line: each synthetic record is one JSON Lines line", template)
    try:
        json.loads(sample)
    except json.JSONDecodeError as exc:
        raise _invalid(
            member, f"Member must give valid JSON once $features is replaced by a JSON array ({exc.msg})", template
        ) from exc


def parse_explainer_config(explainer_config: Mapping[str, Any]) -> ClarifyConfig | None:
    """Typed ``ClarifyConfig`` with Clarify's defaults, or None when no ``ClarifyExplainerConfig`` is present.

    Does not validate; call ``validate_explainer_config`` first (CreateEndpointConfig does).
    """
    clarify = explainer_config.get("ClarifyExplainerConfig")
    if clarify is None:
        return None
    inference = clarify.get("InferenceConfig") or {}
    shap = clarify["ShapConfig"]
    baseline = shap["ShapBaselineConfig"]
    text = shap.get("TextConfig")

    def strings(name: str) -> tuple[str, ...] | None:
        values = inference.get(name)
        return None if values is None else tuple(values)

    return ClarifyConfig(
        enable_explanations=clarify.get("EnableExplanations", DEFAULT_ENABLE_EXPLANATIONS),
        inference=InferenceConfig(
            features_attribute=inference.get("FeaturesAttribute"),
            content_template=inference.get("ContentTemplate"),
            max_record_count=inference.get("MaxRecordCount"),
            max_payload_in_mb=inference.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_IN_MB),
            probability_index=inference.get("ProbabilityIndex"),
            label_index=inference.get("LabelIndex"),
            probability_attribute=inference.get("ProbabilityAttribute"),
            label_attribute=inference.get("LabelAttribute"),
            label_headers=strings("LabelHeaders"),
            feature_headers=strings("FeatureHeaders"),
            feature_types=strings("FeatureTypes"),
        ),
        shap=ShapConfig(
            baseline=BaselineConfig(
                mime_type=media_type(baseline.get("MimeType")) or DEFAULT_BASELINE_MIME_TYPE,
                inline=baseline.get("ShapBaseline"),
                uri=baseline.get("ShapBaselineUri"),
            ),
            number_of_samples=shap.get("NumberOfSamples"),
            use_logit=bool(shap.get("UseLogit", False)),
            seed=shap.get("Seed"),
            text=None if text is None else TextConfig(language=text["Language"], granularity=text["Granularity"]),
        ),
    )
