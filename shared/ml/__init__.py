"""The machine-learning pieces both training and serving use, so the two cannot drift apart.

- ``model_repo``: the Triton model repository layout and each model's manifest;
- ``preprocess``: model input preparation (training, evaluation and the encoders: no skew);
- ``text``: offer text cleaning; ``text_preparation``: the translate-or-not contract;
- ``subword``: fastText-style hashed word and character n-gram features of a text;
- ``fusion``: the fusion meta-model at inference time (booster MLP, then LightGBM);
- ``training_progress``: the progress file of a background training run.
"""
