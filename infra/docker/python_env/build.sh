#!/usr/bin/env bash
# Builds the job's Python environment for EMR Serverless 7.x, inside amazonlinux:2023
# (the OS of the EMR 7 workers), for the platform Docker runs this container with.
#
# The job's pins (numpy 2.4, pandas 3.1...) need Python 3.11+, and EMR Serverless does not
# document which interpreters its 7.x images carry (the EMR 7.10 release guide lists 3.9 and
# 3.11 for EMR on EC2), so the archive brings its own CPython, compiled here and copied into
# the venv (AWS's documented recipe for other Python versions): venv-pack alone would point
# at an interpreter that may not exist on the workers.
#
# Inputs: PYTHON_VERSION (env), /requirements-emr.txt (mounted).
# Output: /asset-output/pyspark_env.tar.gz, unpacked by Spark as ./environment.
# bench/environment_size.py runs this same script outside Docker with PYTHON_PREFIX set to an
# installed CPython (the compile step is then skipped) and its own REQUIREMENTS, VENV and OUTPUT_DIR.
set -euo pipefail

: "${PYTHON_VERSION:?set by the CDK bundling options}"
PYTHON_MINOR="${PYTHON_VERSION%.*}"
VENV="${VENV:-/opt/venv}"
OUTPUT_DIR="${OUTPUT_DIR:-/asset-output}"
REQUIREMENTS_FILE="${REQUIREMENTS_FILE:-/requirements-emr.txt}"

if [ -z "${PYTHON_PREFIX:-}" ]; then
  PYTHON_PREFIX=/usr/local
  # The container image is minimal (no find, tar, gzip or strip): every tool this script calls is
  # either in it (AWS's package list, see tests/infra/test_infra_build_script.py) or installed here.
  dnf install -y -q gcc make tar gzip binutils findutils openssl-devel bzip2-devel libffi-devel zlib-devel \
    xz-devel sqlite-devel
  curl -fsSL "https://www.python.org/ftp/python/${PYTHON_VERSION}/Python-${PYTHON_VERSION}.tgz" \
    | tar -xz -C /tmp
  (
    cd "/tmp/Python-${PYTHON_VERSION}"
    ./configure --prefix="${PYTHON_PREFIX}" --quiet
    make -j"$(nproc)" --quiet
    make altinstall --quiet
  )
fi
STDLIB="${PYTHON_PREFIX}/lib/python${PYTHON_MINOR}"
VENV_STDLIB="${VENV}/lib/python${PYTHON_MINOR}"

"${PYTHON_PREFIX}/bin/python${PYTHON_MINOR}" -m venv --copies "${VENV}"
# The standard library beside the copied interpreter; not the base's site-packages (the venv has its own).
tar -C "${STDLIB}" --exclude=./site-packages -cf - . | tar -C "${VENV_STDLIB}" -xf -
"${VENV}/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
"${VENV}/bin/python" -m pip install --quiet --no-cache-dir -r "${REQUIREMENTS_FILE}" venv-pack==0.2.0

# What the job never runs, removed before packing (bench/environment_size.py measures the gain):
# - the standard library's test suite, IDE, Tk, turtle demo, 2to3 and bootstrap wheels; the static
#   libpython (for embedding only); bytecode for `python -O`; debug symbols of the interpreter copies;
# - the packages' own test suites, pyarrow's C++ headers, Arrow Flight and pyarrow's S3 filesystem
#   (Spark moves data over Arrow IPC; S3 is read through Hadoop or boto3), LiteRT's WebGPU
#   accelerator (the job runs the CPU interpreter), and pip/setuptools (nothing installs on a worker);
# - botocore's models of every AWS service but BOTOCORE_SERVICES: a job that calls another service
#   adds it there.
BOTOCORE_SERVICES="s3 sts"
SITE="${VENV_STDLIB}/site-packages"
rm -rf "${VENV_STDLIB}"/{test,idlelib,tkinter,turtledemo,lib2to3,ensurepip} "${VENV_STDLIB}"/config-*/libpython*.a
rm -f "${VENV_STDLIB}"/lib-dynload/_tkinter*.so
find "${VENV_STDLIB}" -depth -type d \( -name tests -o -name test \) -exec rm -rf {} +
find "${VENV}" -name '*.opt-[12].pyc' -delete
rm -rf "${SITE}/pyarrow/include" "${SITE}"/pyarrow/{libarrow_flight,libarrow_python_flight,libarrow_s3}.so* \
  "${SITE}"/pyarrow/{_flight,_s3fs}.cpython-*.so "${SITE}/ai_edge_litert/libLiteRtWebGpuAccelerator.so"
for service in "${SITE}"/botocore/data/*/; do
  keep=no
  for wanted in ${BOTOCORE_SERVICES}; do
    if [ "$(basename "${service}")" = "${wanted}" ]; then keep=yes; fi
  done
  if [ "${keep}" = no ]; then rm -rf "${service}"; fi
done
"${VENV}/bin/python" -m pip uninstall --quiet --yes pip setuptools
for interpreter in "${VENV}/bin/python" "${VENV}/bin/python3" "${VENV}/bin/python${PYTHON_MINOR}"; do
  [ -L "${interpreter}" ] || strip --strip-debug "${interpreter}"
done

# Everything the job imports on the workers, after the removals above.
"${VENV}/bin/python" -c "import ai_edge_litert.interpreter, boto3, matplotlib.pyplot, numpy, pandas, PIL.Image, \
pyarrow.fs, sklearn.linear_model; boto3.client('s3', region_name='eu-west-3'); print('environment imports OK')"

mkdir -p "${OUTPUT_DIR}"
"${VENV}/bin/venv-pack" --prefix "${VENV}" --output "${OUTPUT_DIR}/pyspark_env.tar.gz" \
  --python-prefix /home/hadoop/environment
chmod a+r "${OUTPUT_DIR}/pyspark_env.tar.gz"
