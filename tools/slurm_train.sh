#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU (mmseg's slurm_train.sh):
#   [GPUS=8] [GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG \
#       [train.py flags, e.g. --work-dir DIR --amp]
# GPUS tasks over GPUS / GPUS_PER_NODE nodes; CPUS_PER_TASK cores each;
# SRUN_ARGS are passed to srun. mmengine reads the rank and world size from
# the Slurm environment (--launcher slurm). BatchNorm across the GPUs: the
# Pascal configs (mmseg's DeepLabV3+) use SyncBN already; for a BN config add
# --cfg-options sync_bn=torch (see docs/benchmarks.md, "Multi-GPU").
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
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
    "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --launcher="slurm" \
    "${@:4}"
