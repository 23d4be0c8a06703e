"""The model without Spark: the MobileNetV2 embedder and its TF Lite conversion, photo decoding,
the classifier on the features, and `predict` on a finished run.

May import: storage, contract.
"""
