"""The one place that names the EMR Serverless release and the Spark it runs.

`requirements.txt` pins `pyspark` to SPARK_VERSION and the CDK app deploys EMR_RELEASE;
tests check both against this file.
"""

EMR_RELEASE = "emr-7.10.0"
SPARK_VERSION = "3.5.5"
