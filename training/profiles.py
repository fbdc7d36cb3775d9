"""Training profiles: ``tiny`` (seconds, for tests), ``quick`` (the demo's first model, a few
minutes at most: bag-of-words text model and a small image head), ``default`` (2 CPU cores),
``production`` (the real catalog on one GPU) and ``production-tiny`` (its shape at test size).

``default`` is sized for 2 CPU cores: the default profile cross-fits linear-time text models (the
subword model and its title-only and character-only views, bag of word pieces) over 3 folds and
the last stages of EfficientNet-Lite0 over 2 folds (the early 60% of its tensors stay frozen:
ImageNet features, no backward pass through them; their activations are computed once and
cached, training.image_front), then refits each on all non-test rows for serving; every run
keeps a validation slice for early stopping. The image tail trains 3 epochs at 224 px with
dropout and mixup of the cached maps; progressive resizing and label smoothing tied or lost in
the screens of docs/benchmarks/training.md, so they are not the default. The run stays within
the time of the previous MiniLM-based default.

``production`` is the reference study's recipe on one GPU (bf16, loader workers): CamemBERT and
FlauBERT fine-tuned end to end at 256 tokens, three timm backbones fully fine-tuned at 224px,
the subword model beside them, each over several epochs with validation and early stopping.
Its bases are hub names; offline, give local directories / ``ARCH=WEIGHTS.pth`` instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

DEFAULT_TEXT_BASE = "subword"
# The fastText-style subword model (multilingual by construction) plus the word-piece linear
# model (training.bow_model): two cheap, differently-biased text models, fused like the seed's
# two. The English MiniLM stays available (--text-base minilm) but is not a default: it scored
# below both on real multilingual text and cost ~60% of the default run's time.
DEFAULT_TEXT_BASES = [DEFAULT_TEXT_BASE, "bow"]
# The default profile adds the subword model's title-only and character-only views
# (training.subword_model.SUBWORD_VIEWS): the text path pools them by cross-validation, what
# put it above TF-IDF + LinearSVC on real text (docs/benchmarks/training.md); the tiny profile
# (tests) keeps the two bases.
VIEW_TEXT_BASES = (DEFAULT_TEXT_BASE, "subword_title", "subword_chars", "bow")
DEFAULT_IMAGE_BASE = "efficientnet_lite0"
# Settings that change how fast a run goes, not what it learns: left out of Profile.key() so a
# run resumes with other worker counts (bases are keyed separately, by the work dir).
RUNTIME_FIELDS = frozenset({"loader_workers", "image_decode_workers", "text_bases", "image_bases"})
# Profiles that skip the transformer (bag of word pieces only): the fast first model of the demo.
PROFILE_TEXT_BASES: dict[str, list[str]] = {"quick": ["bow"]}


def text_bases_for(profile: str) -> list[str]:
    """The text bases a profile trains when none are given (``quick`` skips the transformer)."""
    own = PROFILES[profile].text_bases if profile in PROFILES else ()
    return list(own or PROFILE_TEXT_BASES.get(profile, DEFAULT_TEXT_BASES))


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int = 42
    test_fraction: float = 0.15
    # cross-fitting (training.oof): folds of the non-test rows, and the validation share that
    # every base-model run keeps aside for early stopping / best checkpoint
    oof_folds: int = 3
    image_oof_folds: int = 2
    val_fraction: float = 0.1
    patience: int = 2
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
    # fastText-style features under a TF-IDF linear model (training.subword_model, shared.ml.subword)
    # fitted exactly by LinearSVC; measured in docs/benchmarks/subword-causes.json: the former
    # Adam fit (one block of 2^18, 2,048-id cap) scored 0.027 below TF-IDF + LinearSVC on real
    # text; with the blocks, 2^18..2^22 score alike within noise at 3-4k offers (2^18: 28 MB of
    # ONNX at 27 labels, 2^20: 112 MB); 2^20 for the full catalog's vocabulary
    subword_buckets: int = 2**20
    subword_word_buckets: int = 2**18  # words and word n-grams: [1, 2^18); character n-grams: the rest
    subword_counts: bool = True  # distinct ids with counts: sublinear TF, a true L2 norm per block
    subword_min_n: int = 2
    subword_max_n: int = 5
    subword_word_ngrams: int = 2
    subword_max_features: int = 32768  # a whole offer: ~5 ids per character of shared.ml.text's 5,000
    subword_epochs: int = 12  # the former Adam fit's settings (services.bench.subword_bench compares)
    subword_batch_size: int = 128
    subword_lr: float = 0.01
    subword_c: float = 0.5  # LinearSVC's C, as the same-run baseline's
    subword_min_df: int = 2  # buckets fewer training rows have are ignored, as the baseline's min_df
    # above text_many_labels classes (docs/benchmarks/taxonomy.md) the subword one-vs-rest fit
    # is split over subword_fit_processes worker processes (training.ovr; one liblinear call
    # grows with classes x rows) and bow trains sparse (SparseAdam over the rows a batch
    # touches; training.bow_model); at or below it both keep their former exact solution
    text_many_labels: int = 100
    subword_fit_processes: int = 2
    # image
    image_size: int = 224
    image_epochs: int = 2
    image_batch_size: int = 32
    image_lr: float = 1e-3
    image_freeze_fraction: float = 0.6
    image_max_steps_per_epoch: int | None = None
    # training resolution per epoch (the last repeats; empty: image_size throughout); serving,
    # validation and scoring stay at image_size (training.image_model.train_size)
    image_train_sizes: tuple[int, ...] = ()
    image_label_smoothing: float = 0.0
    image_patience: int | None = None  # epochs without a better validation loss; None: patience
    # train the stages after the frozen front on its activations, computed once per photo
    # (training.image_front); needs image_freeze_fraction > 0 and a stage-structured backbone
    image_cache_front: bool = False
    image_front_views: int = 0  # augmented copies of each photo through the cached front
    # regularising the cached-front tail (training.image_front): dropout before the classifier
    # (0: the backbone's own) and mixup of the cached maps (Beta(alpha, alpha); 0: off)
    image_tail_dropout: float = 0.0
    image_mixup: float = 0.0
    # fusion
    booster_hidden: int = 128
    booster_epochs: int = 200
    booster_folds: int = 5
    lgbm_rounds: int = 400
    lgbm_early_stopping: int = 20
    fusion_folds: int = 3
    lgbm_learning_rate: float = 0.05
    lgbm_num_leaves: int = 15
    # many classes (docs/benchmarks/taxonomy.md): LightGBM grows one tree per class per round,
    # so above this many labels each fusion path is a class-shared linear combiner of the
    # models' logits instead of booster + LightGBM (training.fusion_train)
    fusion_lgbm_max_labels: int = 100
    # largest dense (buckets x labels) float32 table of a text model: above it the subword and
    # bow bucket counts halve until it fits (sized_for_labels; 2^20 x 27 labels = 113 MB fits)
    label_table_bytes: int = 2**28
    # export
    max_batch_size: int = 64
    rebalance: bool = False
    # device (training.device): bf16 autocast on CUDA; loader worker processes for image
    # batches; threads decoding photos into the pixel cache (training.image_data)
    mixed_precision: bool = True
    loader_workers: int = 0
    image_decode_workers: int = 2
    # the profile's own bases (empty: the CLI defaults DEFAULT_TEXT_BASES / DEFAULT_IMAGE_BASE)
    text_bases: tuple[str, ...] = ()
    image_bases: tuple[str, ...] = ()

    def key(self) -> str:
        """Stable hash of the settings that shape the model: a work dir is only resumed by them."""
        shaping = {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:10]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # The image stages after the frozen front train on its cached activations (computed once,
    # shared by the folds and the refit: training.image_front): the same out-of-fold F1 as two
    # epochs on pixels in 56% of the image stage's time; augmented copies through the front
    # (image_front_views) cost 1.6x that and gained nothing (docs/benchmarks/training.md,
    # "Pool then fuse, top-label calibration, the frozen front cached"). The tail overfits by its
    # second epoch (train loss 0.34 vs validation 1.46): dropout 0.3 before the classifier and
    # mixup (alpha 0.2) of the cached maps lifted its out-of-fold F1 by 0.02 each in the screen
    # (training-tail-screen.json; a random shift of the maps did not), at no extra time.
    "default": Profile(
        name="default",
        text_bases=VIEW_TEXT_BASES,
        image_cache_front=True,
        image_epochs=3,
        image_tail_dropout=0.3,
        image_mixup=0.2,
    ),
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
        oof_folds=3,
        image_oof_folds=2,
        subword_buckets=2**14,
        subword_word_buckets=2**12,
        subword_epochs=4,
        subword_max_features=512,
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
        lgbm_early_stopping=5,
        fusion_folds=2,
        lgbm_num_leaves=7,
        max_batch_size=32,
    ),
    # The demo's first model: text_bow only (see PROFILE_TEXT_BASES) and the head plus the last
    # stages of EfficientNet-Lite0 on small photos, one epoch: served while ``default`` trains.
    "quick": Profile(
        name="quick",
        oof_folds=2,  # the fewest cross-fitting runs: minutes matter more than the last point of F1
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


PRODUCTION = Profile(
    name="production",
    val_fraction=0.05,
    text_max_length=256,
    text_epochs=4,
    # 64: the step rate on an H200 doubles from batch 32 (700 -> 1,400 offers/s at 256 tokens,
    # docs/benchmarks/gpu-probe-h200.json) for 7.7 GiB of GPU memory.
    text_batch_size=64,
    text_lr=3e-5,
    # The full image recipe of the reference study on one GPU (EfficientNet-Lite0 on real product
    # photos: 0.866 with the 2-CPU recipe, 0.900 fully fine-tuned for 10 epochs, 0.931 with 30
    # epochs, flips and shifts, label smoothing and a higher learning rate): every layer trained,
    # 30 epochs under warm-up and linear decay, the batch augmentation of every profile (flip,
    # shift, zoom, rotation, colour), label smoothing 0.1, lr 5e-4 (was 1e-4), and a patience
    # that lets the decaying schedule finish (2 would stop a 30-epoch run at its first plateau).
    image_size=224,
    image_epochs=30,
    image_batch_size=64,
    image_lr=5e-4,
    image_freeze_fraction=0.0,
    image_label_smoothing=0.1,
    image_patience=6,
    loader_workers=8,
    image_decode_workers=16,
    max_batch_size=128,
    text_bases=("camembert-base", "flaubert/flaubert_base_cased", "subword"),
    image_bases=(
        "convnext_base.fb_in22k_ft_in1k",
        "tf_efficientnetv2_m.in21k_ft_in1k",
        "maxvit_tiny_tf_224.in1k",
    ),
)
PROFILES["production"] = PRODUCTION
# The production recipe at test size: same code path (full fine-tuning, loader workers,
# several epochs with validation), tiny sizes; its image bases are random-init timm test
# models, its transformer bases are given by the caller (a local directory).
PROFILES["production-tiny"] = replace(
    PROFILES["tiny"],
    name="production-tiny",
    oof_folds=2,
    text_epochs=2,
    text_max_steps_per_epoch=6,
    image_epochs=2,
    image_max_steps_per_epoch=4,
    image_freeze_fraction=0.0,
    image_label_smoothing=PRODUCTION.image_label_smoothing,
    image_patience=PRODUCTION.image_patience,
    loader_workers=1,
    text_bases=("subword",),
    image_bases=("test_convnext=random", "test_efficientnet=random"),
)


def _fitting_buckets(buckets: int, n_labels: int, budget: int, floor: int = 2**12) -> int:
    while buckets > floor and buckets * n_labels * 4 > budget:
        buckets //= 2
    return buckets


def sized_for_labels(profile: Profile, n_labels: int) -> Profile:
    """The profile with its text models' hash tables shrunk to ``label_table_bytes`` for
    ``n_labels`` classes (the subword word/character split keeps its share).

    Why: a dense table is buckets x labels float32; at 1,000 leaves the default 2^20 subword
    buckets would be 4 GB per model (and past ONNX's 2 GB file limit), the bow model's 2^18
    1 GB under Adam. The F1 cost of fewer buckets is measured in docs/benchmarks/taxonomy.md.
    Unchanged at the reference's 27 labels."""
    budget = profile.label_table_bytes
    subword = _fitting_buckets(profile.subword_buckets, n_labels, budget)
    bow = _fitting_buckets(profile.bow_buckets, n_labels, budget)
    if subword == profile.subword_buckets and bow == profile.bow_buckets:
        return profile
    word = max(1, profile.subword_word_buckets * subword // profile.subword_buckets)
    return replace(profile, subword_buckets=subword, subword_word_buckets=word, bow_buckets=bow)


def get_profile(name: str, rebalance: bool = False) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.")
    return replace(PROFILES[name], rebalance=rebalance)
