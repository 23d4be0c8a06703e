"""`python -m pipeline ...`, and the spark-submit entry point on EMR Serverless."""

from pipeline.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
