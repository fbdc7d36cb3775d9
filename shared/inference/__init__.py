"""Running the models in the workers (docs/architecture.md §5).

- ``backend``: the one inference interface and its ``local`` implementation (ONNX Runtime);
  ``triton``: the same interface against a Triton server; ``factory``: picks one by
  ``CATALOG_INFERENCE_BACKEND``;
- ``store``: the model repository as running workers see it (current manifest, older revisions);
- ``pinning``: one model version per submission across both encoders;
- ``batching``: the encoders' batch bookkeeping (rows by pinned version, logits per row);
- ``shadow``: the shadow candidate's logits alongside the live ones in the encoders.

The encoders themselves live in ``services/{text,image}_encoder``, the fusion join in
``services/fusion``, the online classifier in the composition root (``services/cli/online.py``)
and the Triton rollout controller in ``services/rollout/controller.py``.
"""
