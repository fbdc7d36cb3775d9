"""What an explanation of one classification looks like (``catalog explain``, the API, the dashboard).

Shared because both its producer (``services.explain``, wired by the composition root) and its
consumer (the API, which caches and serves it) must agree on it without importing each other.
Word and photo weights are changes of the *fused* log-odds of the predicted category, measured
by occlusion through the served models ("this much of the confidence came from here"); the
modality split is in probability.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.contract import CategoryScore


class WordWeight(BaseModel):
    word: str = Field(..., description="A distinct word of the text the model saw (lower case).")
    weight: float = Field(
        ...,
        description="Fused log-odds of the predicted category minus its log-odds with every "
        "occurrence of the word removed: > 0 pushed for the category, < 0 against it.",
    )


class Heatmap(BaseModel):
    rows: int = Field(..., description="Grid rows over the photo.")
    cols: int = Field(..., description="Grid columns over the photo.")
    weights: list[list[float]] = Field(
        ...,
        description="Per cell (row-major): fused log-odds of the predicted category minus its "
        "log-odds with the cell greyed out.",
    )
    png_base64: str = Field(..., description="A thumbnail of the photo with the heat-map overlaid (PNG).")


class ModalityShare(BaseModel):
    """Each modality's part in the decision: a two-player Shapley split of the fused probability.

    ``text + image = p_both - p_none``; ``share_*`` are the absolute parts normalised to 1.
    """

    text: float | None = Field(None, description="Text's Shapley part of the predicted probability.")
    image: float | None = Field(None, description="Image's Shapley part of the predicted probability.")
    share_text: float = Field(..., ge=0.0, le=1.0)
    share_image: float = Field(..., ge=0.0, le=1.0)
    p_both: float = Field(..., description="Predicted category's probability with what was given.")
    p_text_only: float | None = Field(None, description="... with the text alone (fusion's text path).")
    p_image_only: float | None = Field(None, description="... with the photo alone (fusion's image path).")
    p_none: float = Field(..., description="... with neither (the training class prior).")


class Explanation(BaseModel):
    """Why one offer got its category, from occlusion through the served models."""

    listing_id: str | None = None
    submission_id: str | None = Field(None, description="The submission explained (cache key).")
    model_version: str
    method: str = Field("occlusion", description="How weights were measured.")
    prdtypecode: int
    label: str
    confidence: float
    top_k: list[CategoryScore]
    text: str = Field("", description="The text the model saw (after cleaning and translation).")
    language: str | None = None
    translation_status: str | None = None
    words_for: list[WordWeight] = Field(default_factory=list, description="Strongest first.")
    words_against: list[WordWeight] = Field(default_factory=list, description="Strongest first.")
    words: list[WordWeight] = Field(default_factory=list, description="Every word weighed, in text order.")
    words_truncated: bool = Field(False, description="Distinct words beyond the limit were not weighed.")
    heatmap: Heatmap | None = None
    image_missing_reason: str | None = None
    modalities: ModalityShare
    inference_requests: int = Field(..., description="Inference requests the explanation cost.")
    elapsed_ms: float
