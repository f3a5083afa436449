#!/usr/bin/env bash
# One-step setup on Debian 12: installs the dependencies (sudo when not root) and builds into build/.
#   scripts/setup.sh          runtime + build dependencies, release build
#   scripts/setup.sh --dev    also test/benchmark/Python-tool dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh "$@"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
echo "built: build/dalle-vk"
