"""Link functions g: attributions are additive in g-space (Clarify's UseLogit picks logit)."""

from __future__ import annotations

from typing import Literal

import numpy as np

Link = Literal["identity", "logit"]
LINKS: tuple[Link, ...] = ("identity", "logit")


def check_link(link: str) -> Link:
    if link not in LINKS:
        raise ValueError(f"link must be one of {', '.join(LINKS)}, got {link!r}")
    return link  # type: ignore[return-value]


def check_in_domain(values: np.ndarray, link: Link, what: str) -> None:
    """The logit is only defined on (0, 1): say which values fell outside instead of returning NaN."""
    if link == "logit" and not np.all((values > 0.0) & (values < 1.0)):
        bad = values[~((values > 0.0) & (values < 1.0))]
        raise ValueError(
            f"the logit link needs model outputs strictly inside (0, 1), but {what} gave {bad.ravel()[:3].tolist()}"
        )


def apply_link(values: np.ndarray, link: Link) -> np.ndarray:
    if link == "identity":
        return values
    return np.log(values) - np.log1p(-values)
