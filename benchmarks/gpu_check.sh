#!/usr/bin/env sh
# One command on a new GPU machine: parity of our models on CUDA (fp32 must pass the CPU
# criterion; the default tf32 drift is reported) and Cutie/ReVOS frames/s and peak memory at
# 480p. Without CUDA it says so and exits 0. Arguments go to `m3vos dev gpu-check`
# (e.g. --references ../shared/fixtures/parity --json). Expected output: docs/benchmarks.md.
set -e
exec python -m m3vos_cli dev gpu-check "$@"
