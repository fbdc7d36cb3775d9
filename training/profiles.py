"""Training profiles: ``tiny`` (seconds, for tests), ``quick`` (the demo's first model, a few
minutes at most: bag-of-words text model and a small image head) and ``default`` (the real run).

Sized for 2 CPU cores: the default profile fine-tunes MiniLM at 128 tokens for 2 epochs and
the last stages of EfficientNet-Lite0 at 224x224 for 2 epochs (the early 60% of its tensors stay
frozen: ImageNet features, and no backward pass through them), aiming at < 30 minutes for
6,000 offers on an otherwise idle 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

DEFAULT_TEXT_BASE = "minilm"
# The transformer plus the word-piece linear model (training.bow_model): fused like the seed's two.
DEFAULT_TEXT_BASES = [DEFAULT_TEXT_BASE, "bow"]
DEFAULT_IMAGE_BASE = "efficientnet_lite0"
# Profiles that skip the transformer (bag of word pieces only): the fast first model of the demo.
PROFILE_TEXT_BASES: dict[str, list[str]] = {"quick": ["bow"]}


def text_bases_for(profile: str) -> list[str]:
    """The text bases a profile trains when none are given (``quick`` skips the transformer)."""
    return list(PROFILE_TEXT_BASES.get(profile, DEFAULT_TEXT_BASES))


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int = 42
    test_fraction: float = 0.15
    fusion_fraction: float = 0.25
    max_chars: int = 5000
    # text
    text_max_length: int = 128
    text_epochs: int = 2
    text_batch_size: int = 32
    text_lr: float = 1e-4
    text_max_steps_per_epoch: int | None = None
    # bag of word pieces (training.bow_model)
    bow_max_length: int = 256
    bow_epochs: int = 4
    bow_batch_size: int = 64
    bow_lr: float = 0.05
    bow_buckets: int = 2**18
    # image
    image_size: int = 224
    image_epochs: int = 2
    image_batch_size: int = 32
    image_lr: float = 1e-3
    image_freeze_fraction: float = 0.6
    image_max_steps_per_epoch: int | None = None
    # fusion
    booster_hidden: int = 128
    booster_epochs: int = 200
    booster_folds: int = 5
    lgbm_rounds: int = 150
    lgbm_learning_rate: float = 0.05
    lgbm_num_leaves: int = 15
    # export
    max_batch_size: int = 64
    rebalance: bool = False

    def key(self) -> str:
        """Stable hash of every setting: a work dir is only resumed by the same settings."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "default": Profile(name="default"),
    "tiny": Profile(
        name="tiny",
        text_max_length=32,
        text_epochs=1,
        text_batch_size=16,
        text_lr=3e-4,
        text_max_steps_per_epoch=12,
        bow_max_length=64,
        bow_epochs=2,
        bow_buckets=2**12,
        image_size=64,
        image_epochs=1,
        image_batch_size=16,
        image_lr=2e-3,
        image_freeze_fraction=0.7,
        image_max_steps_per_epoch=12,
        booster_hidden=32,
        booster_epochs=60,
        booster_folds=3,
        lgbm_rounds=20,
        lgbm_num_leaves=7,
        max_batch_size=32,
    ),
    # The demo's first model: text_bow only (see PROFILE_TEXT_BASES) and the head plus the last
    # stages of EfficientNet-Lite0 on small photos, one epoch: served while ``default`` trains.
    "quick": Profile(
        name="quick",
        bow_max_length=96,
        bow_epochs=3,
        bow_buckets=2**16,
        image_size=64,
        image_epochs=1,
        image_freeze_fraction=0.9,
        booster_hidden=64,
        booster_epochs=100,
        booster_folds=3,
        lgbm_rounds=60,
        lgbm_num_leaves=7,
    ),
}


def get_profile(name: str, rebalance: bool = False) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.")
    return replace(PROFILES[name], rebalance=rebalance)
