#!/usr/bin/env bash
# One-step setup on Debian 12: installs the dependencies (sudo when not root) and builds into build/.
#   scripts/setup.sh          runtime + build dependencies, release build
#   scripts/setup.sh --convert  also what tools/convert.py needs (public checkpoints; no PyTorch)
#   scripts/setup.sh --dev    also test/benchmark/Python-tool dependencies
# Everything it prints (apt, the build) goes to stderr, so that in `scripts/setup.sh && build/dalle-vk ...` stdout
# holds only what dalle-vk writes there: the path of the PNG.
set -euo pipefail
exec 1>&2
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh "$@"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
echo "built: build/dalle-vk"
