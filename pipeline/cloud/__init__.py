"""The terminal client of the deployed stack: `python -m pipeline cloud VERB` (boto3).

Everything is found from the stack's CloudFormation outputs (stack name and region),
never from hand-copied names. boto3 is imported inside functions only: the pipeline
package also ships to the EMR workers, which never run the client.
"""
