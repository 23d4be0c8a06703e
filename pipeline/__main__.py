"""`python -m pipeline ...`, and the spark-submit entry point on EMR Serverless."""

import sys

from pipeline.cli import main
from pipeline.job.prerequisites import missing_module_problem, python_problem


def run() -> int:
    """main(), or one line when this interpreter lacks a package of the job (the system Python, as a
    first try often is) instead of an import traceback."""
    try:
        return main()
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if top in ("", "pipeline"):
            raise
        print(f"error: {python_problem() or missing_module_problem(top)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(run())
