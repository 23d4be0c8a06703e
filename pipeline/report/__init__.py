"""What people read: the run's report (JSON, HTML, plots) and the page of runs.

May import: model, storage, contract.
"""
