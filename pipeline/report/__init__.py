"""What people read: the run's report (JSON, HTML, plots) and the page of runs found in local folders.

May import: model, storage, contract. Never job or cloud (runs in S3 are downloaded by cloud/ first).
"""
