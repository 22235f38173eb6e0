"""Fixtures for text features: text models trained here on reviews the tests ship, a text model container, and a
brute-force Shapley oracle written independently of the server's code."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.conftest import free_port

POSITIVE = [
    "I love this product, it works great.",
    "Excellent quality and very comfortable.",
    "The fabric quality is very nice and soft.",
    "Great fit, I would buy it again.",
    "Wonderful service and fast delivery.",
    "Absolutely perfect, highly recommended.",
    "Nice colour and the size is right.",
    "Very happy with this purchase.",
    "Good value for the price, nice material.",
    "My son loved it and wears it every day.",
    "Comfortable, pretty and well made.",
    "Fantastic, better than expected.",
]
NEGATIVE = [
    "These were really baggy and made my thighs look bulky.",
    "Terrible quality, it broke after one day.",
    "The size is wrong and the material feels cheap.",
    "Awful fit, I returned it.",
    "Very disappointed, poor stitching.",
    "Bad colour and slow delivery.",
    "It looked like pajama pants, not flattering.",
    "Worst purchase, would not recommend.",
    "Cheap fabric, ripped after washing.",
    "Uncomfortable and too small.",
    "Horrible, waste of money.",
    "Not as described, poor quality.",
]
TEXTS = POSITIVE + NEGATIVE
LABELS = [1] * len(POSITIVE) + [0] * len(NEGATIVE)
# A second column for mixed models: how many stars, which the label also depends on.
STARS = [5, 4, 5, 4, 5, 5, 3, 4, 4, 5, 4, 5, 2, 1, 2, 1, 1, 2, 3, 1, 2, 1, 1, 2]

FAST_WAIT = {"Delay": 0.2, "MaxAttempts": 150}
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


@dataclass(frozen=True)
class TextModel:
    path: Path
    predict: Callable[[Sequence[Sequence[Any]]], np.ndarray]
    """The same model in the test process: rows of (text,) or (text, stars) -> positive-class probability."""


@pytest.fixture(scope="session")
def text_models(model_root: Path) -> dict[str, TextModel]:
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    folder = model_root / "text"
    folder.mkdir()
    # token_pattern keeps one-letter words, so "a" and "i" are units the model sees too.
    words = make_pipeline(TfidfVectorizer(token_pattern=r"(?u)\b\w+\b"), LogisticRegression(C=20.0))
    words.fit(TEXTS, LABELS)
    skops.io.dump(words, folder / "words.skops")

    X = np.empty((len(TEXTS), 2), dtype=object)
    X[:, 0] = TEXTS
    X[:, 1] = [float(s) for s in STARS]
    mixed = make_pipeline(
        ColumnTransformer([("text", TfidfVectorizer(), 0), ("stars", "passthrough", [1])]),
        LogisticRegression(C=5.0),
    )
    mixed.fit(X, LABELS)
    skops.io.dump(mixed, folder / "mixed.skops")

    def predict_words(rows: Sequence[Sequence[Any]]) -> np.ndarray:
        return words.predict_proba([str(r[0]) for r in rows])[:, 1]

    def predict_mixed(rows: Sequence[Sequence[Any]]) -> np.ndarray:
        table = np.empty((len(rows), 2), dtype=object)
        for i, (text, stars) in enumerate(rows):
            table[i] = [str(text), float(stars)]
        return mixed.predict_proba(table)[:, 1]

    return {
        "words": TextModel(folder / "words.skops", predict_words),
        "mixed": TextModel(folder / "mixed.skops", predict_mixed),
    }


# --------------------------------------------------------------------------------------------------------------
# The oracle: masking written from docs/text.md, Shapley values from the definition.


def masked(text: str, units: Sequence[tuple[str, int]], keep: Sequence[bool], replacement: str) -> str:
    """Each maximal run of masked units, from the first one's start to the last one's end, becomes one
    ``replacement``; everything else is kept."""
    out = []
    position = 0
    run_start = None
    for (part, start), kept in zip(units, keep, strict=True):
        assert text[start : start + len(part)] == part
        if kept:
            if run_start is not None:
                out.append(replacement)
                run_start = None
            out.append(text[position:start] + part)
        elif run_start is None:
            run_start = start
            out.append(text[position:start])
        position = start + len(part)
    if run_start is not None:
        out.append(replacement)
    out.append(text[position:])
    return "".join(out)


def brute_force_shapley(value: Callable[[tuple[bool, ...]], float], n: int) -> np.ndarray:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (v(S + i) - v(S))."""
    cache = {z: value(z) for z in itertools.product((False, True), repeat=n)}
    phi = np.zeros(n)
    for z, v in cache.items():
        for i in range(n):
            if not z[i]:
                s = sum(z)
                weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                phi[i] += weight * (cache[(*z[:i], True, *z[i + 1 :])] - v)
    return phi


def units_of(feature: dict[str, Any]) -> list[tuple[str, int]]:
    return [(a["description"]["partial_text"], a["description"]["start_idx"]) for a in feature["attributions"]]


# --------------------------------------------------------------------------------------------------------------
# Deploying


def deploy(sagemaker: Any, container: dict[str, Any], explainer: dict[str, Any]) -> str:
    model = unique("text-model")
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    config = unique("text-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        ExplainerConfig={"ClarifyExplainerConfig": explainer},
    )
    name = unique("text-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name


def text_explainer(
    baseline: str, granularity: str = "token", language: str = "en", feature_types: list[str] | None = None, **shap: Any
) -> dict[str, Any]:
    explainer: dict[str, Any] = {
        "ShapConfig": {
            "ShapBaselineConfig": {"ShapBaseline": baseline},
            "TextConfig": {"Language": language, "Granularity": granularity},
            **shap,
        }
    }
    if feature_types is not None:
        explainer["InferenceConfig"] = {"FeatureTypes": feature_types}
    return explainer


def mixed_jsonl_explainer() -> dict[str, Any]:
    """The explainer of the "mixed" model (a review and a star rating) over JSON Lines records ``{"features": [text,
    stars]}``, sentence units."""
    return {
        "InferenceConfig": {
            "FeatureTypes": ["text", "numerical"],
            "FeaturesAttribute": "features",
            "ContentTemplate": '{"features":$features}',
            "ProbabilityAttribute": "score",
        },
        "ShapConfig": {
            "ShapBaselineConfig": {"MimeType": "application/jsonlines", "ShapBaseline": '{"features":["<UNK>",3]}'},
            "TextConfig": {"Language": "en", "Granularity": "sentence"},
        },
    }


def invoke(runtime: Any, name: str, body: str, *, extended: bool = True, **kwargs: Any) -> tuple[bytes, dict]:
    if extended:
        kwargs["CustomAttributes"] = "openclarify-extended=true"
    response = runtime.invoke_endpoint(EndpointName=name, Body=body.encode(), **kwargs)
    raw = response["Body"].read()
    return raw, json.loads(raw)


# --------------------------------------------------------------------------------------------------------------
# The text model container


class TextContainer:
    def __init__(self, model: Path, log: Path, text_columns: str = "0") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        script = Path(__file__).parent.parent / "containers" / "text_container.py"
        cmd = [sys.executable, str(script), "--port", str(self.port), "--model", str(model), "--log", str(log)]
        cmd += ["--text-columns", text_columns]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ping", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the text model container did not start")

    def requests(self) -> list[int]:
        """Records per request received so far, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line)["records"] for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def text_container(
    text_models: dict[str, TextModel], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TextContainer]:
    live = TextContainer(text_models["mixed"].path, tmp_path_factory.mktemp("text-container") / "requests.jsonl")
    yield live
    live.stop()
