#!/usr/bin/env bash
# Builds the job's Python environment for EMR Serverless 7.x, inside amazonlinux:2023
# (the OS of the EMR 7 workers), for the platform Docker runs this container with.
#
# EMR 7 ships python 3.9 only, so the archive carries its own CPython, compiled here
# and copied into the venv (AWS's documented recipe for other Python versions):
# venv-pack alone would point at an interpreter that does not exist on the workers.
# Inputs: PYTHON_VERSION (env), /requirements-emr.txt (mounted). Output:
# /asset-output/pyspark_env.tar.gz, unpacked by Spark as ./environment.
set -euo pipefail

: "${PYTHON_VERSION:?set by the CDK bundling options}"
PYTHON_MINOR="${PYTHON_VERSION%.*}"
VENV=/opt/venv

dnf install -y -q gcc make tar gzip openssl-devel bzip2-devel libffi-devel zlib-devel \
  xz-devel sqlite-devel

curl -fsSL "https://www.python.org/ftp/python/${PYTHON_VERSION}/Python-${PYTHON_VERSION}.tgz" \
  | tar -xz -C /tmp
cd "/tmp/Python-${PYTHON_VERSION}"
./configure --prefix=/usr/local --quiet
make -j"$(nproc)" --quiet
make altinstall --quiet

# tensorflow-cpu publishes x86_64 wheels only; on aarch64 the `tensorflow` wheel of the
# same version is the CPU build.
REQUIREMENTS=/tmp/requirements-emr.txt
if [ "$(uname -m)" = "aarch64" ]; then
  sed 's/^tensorflow-cpu==/tensorflow==/' /requirements-emr.txt > "${REQUIREMENTS}"
else
  cp /requirements-emr.txt "${REQUIREMENTS}"
fi

"/usr/local/bin/python${PYTHON_MINOR}" -m venv --copies "${VENV}"
cp -r "/usr/local/lib/python${PYTHON_MINOR}/." "${VENV}/lib/python${PYTHON_MINOR}/"
"${VENV}/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
"${VENV}/bin/python" -m pip install --quiet --no-cache-dir -r "${REQUIREMENTS}" venv-pack==0.2.0
"${VENV}/bin/python" -c "import tensorflow, PIL, pyarrow; print('environment imports OK')"

"${VENV}/bin/venv-pack" --prefix "${VENV}" --output /asset-output/pyspark_env.tar.gz \
  --python-prefix /home/hadoop/environment
chmod a+r /asset-output/pyspark_env.tar.gz
