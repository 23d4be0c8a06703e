"""The terminal client of the deployed stack: `python -m pipeline cloud VERB` (boto3), and `dashboard`.

Everything is found from the stack's CloudFormation outputs (stack name and region),
never from hand-copied names. boto3 is imported inside functions only: the pipeline
package also ships to the EMR workers, which never run the client.

May import: report, model, storage, contract. Never job: the client starts without Spark.
"""
