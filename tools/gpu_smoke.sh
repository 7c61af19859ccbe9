#!/usr/bin/env bash
# GPU smoke test of the plugin on one GPU (benchmarks/gpu_smoke.py): ZS3Net
# stage 1 + stage 2 (cached and uncached) + test of mmseg's ResNet-50
# DeepLabV3+ on generated 512x512 data, a CPU run of the same seed checked
# against the GPU run, iterations/s and peak GPU memory next to the stock
# mmseg model, fp32 and AMP; under 8 minutes on one recent GPU.
#   tools/gpu_smoke.sh [--work-dir DIR] [--workers N]
#   tools/gpu_smoke.sh --device cpu --tiny   # its CPU mode (the test suite)
# Exit status 1 when a check fails. Paste the printed report into
# docs/benchmarks.md with the date and the card.
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" "$(dirname "$0")/../benchmarks/gpu_smoke.py" "$@"
