"""Files and photos, local or on S3: paths and reads/writes, the listing of an input folder,
the workers' photo reads, the shared boto3 client, and which file names are photos.

May import: contract only.
"""
