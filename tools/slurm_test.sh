#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU (mmseg's slurm_test.sh):
#   [GPUS=8] [GPUS_PER_NODE=8] tools/slurm_test.sh PARTITION JOB_NAME CONFIG \
#       CHECKPOINT [test.py flags, e.g. --work-dir DIR]
# GPUS tasks over GPUS / GPUS_PER_NODE nodes; CPUS_PER_TASK cores each;
# SRUN_ARGS are passed to srun. With --work-dir, the metrics are written as
# WORK_DIR/<timestamp>/<timestamp>.json, which
# tools/analysis_tools/compare_zero_shot.py reads.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/test.py" "${CONFIG}" "${CHECKPOINT}" \
    --launcher="slurm" "${@:5}"
