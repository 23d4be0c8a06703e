"""Files and photos, local or on S3: paths and reads/writes, the listing of an input folder,
the workers' photo reads and the shared boto3 client.

May import: contract only.
"""
