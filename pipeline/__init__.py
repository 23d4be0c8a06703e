"""Fruit photos to image features (MobileNetV2, PCA), on a laptop or on EMR Serverless.

Layers, top down; a module imports only from its own subpackage or from a layer below it
(tests/test_architecture.py checks it, imports inside functions included):

1. `__main__`, `cli`: the command line and the spark-submit entry point.
2. `cloud`: the terminal client of the deployed stack (boto3), and runs downloaded for the dashboard.
3. `job`: the Spark job (`run`, `transform`), its session and its prerequisites.
4. `report`: what people read: the run report, its plots, the page of runs.
5. `model`: the embedder, its conversion, photo decoding, the classifier and prediction, without Spark.
6. `storage`: files and photos, local or on S3: reading, writing, listing, which names are photos.
7. `contract`: what the job, the client and infra/ agree on, in plain Python.

`cloud` and `job` never import each other: the client starts without Spark.
Every `__init__.py` holds a docstring only: `make` runs `python -m pipeline.job.prerequisites`
with whatever Python it finds, however old.
"""
