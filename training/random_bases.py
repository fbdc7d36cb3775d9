"""Randomly initialised transformer bases shaped like the production ones, with a tokenizer
built locally: for the GPU check and the tests, which have neither the hub nor the weights.

A base is written as a local Hugging Face directory (config, weights, tokenizer), exactly what
``catalog train --text-base DIR`` loads for the real CamemBERT or FlauBERT, so the check and
the tests exercise the production loading path. Throughput and memory depend on the shape
(layers, width, vocabulary, sequence length), not on the weights' values; F1 does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# (model_type, config of the real base). Vocabulary sizes are the real ones (the embedding
# and its optimizer state are part of the memory and time measured).
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "camembert-base": (
        "camembert",
        {
            "vocab_size": 32005,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "max_position_embeddings": 514,
            "type_vocab_size": 1,
        },
    ),
    "flaubert-base": (
        "flaubert",
        {"vocab_size": 68729, "emb_dim": 768, "n_layers": 12, "n_heads": 12, "max_position_embeddings": 512},
    ),
}
TINY: dict[str, dict[str, Any]] = {
    "camembert": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 130,
    },
    "flaubert": {"emb_dim": 32, "n_layers": 2, "n_heads": 2, "max_position_embeddings": 128},
}


def build_tokenizer(texts: list[str], directory: Path, vocab_size: int = 8000) -> Any:
    """A WordPiece tokenizer trained on ``texts``, saved to ``directory`` (tokenizer.json)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS)
    tokenizer.train_from_iterator((t for t in texts if t), trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    return fast


def write_random_base(shape: str, texts: list[str], directory: Path, tiny: bool = False) -> Path:
    """A random-init ``shape`` (``camembert-base`` or ``flaubert-base``) base saved in ``directory``.

    ``tiny`` keeps the architecture but shrinks it (2 layers, width 32, the tokenizer's own
    vocabulary) for CPU tests."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if shape not in SHAPES:
        raise ValueError(f"Unknown shape {shape!r}; choose one of {sorted(SHAPES)}.")
    model_type, settings = SHAPES[shape]
    tokenizer = build_tokenizer(texts, directory, vocab_size=500 if tiny else 8000)
    settings = dict(settings)
    if tiny:
        settings.update(TINY[model_type], vocab_size=len(tokenizer))
    settings["vocab_size"] = max(int(settings["vocab_size"]), len(tokenizer))
    pad = int(tokenizer.pad_token_id)
    if model_type == "flaubert":
        settings.update(pad_index=pad, unk_index=tokenizer.unk_token_id, n_langs=1, use_lang_emb=False)
    else:
        settings.update(pad_token_id=pad)
    config = AutoConfig.for_model(model_type, num_labels=2, **settings)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(str(directory))
    return directory
