"""The Spark job: `run` and `transform` from photo folders to features, PCA, CSV, a classifier and a report.

Owns the Spark session (and its log4j2-quiet.properties), the listing of photos into rows, the
featurization on the workers, PCA, reuse of an earlier run, the CSV output, cluster sizing, progress
and the prerequisites check (standard library only: `make` runs it with an old Python).

May import: report, model, storage, contract. Never cloud or the command line.
"""
