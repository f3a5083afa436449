#!/usr/bin/env bash
# One prepared run for a machine with a GPU: build, the op and model tests on it, then the benchmarks whose
# numbers docs/benchmarks.md records per device (ms per decode step and per image token next to the
# weight-read bound, matmul GB/s, VQGAN decode).
#   scripts/gpu-check.sh [--quick]   --quick: without the public-size benchmarks (which write random model files
#                                    to ~/.cache/dalle-vk/bench once: Malevich and minDALL-E 2.5 GB each at f16,
#                                    DALL-E Mini and Mega with 4 decoder layers 0.4 and 1.0 GB, scaled to 12 / 24)
# The device is dalle-vk's default choice (a discrete GPU first); DVK_DEVICE=NAME picks another.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "gpu-check: unknown option '$1' (expected --quick)" >&2; exit 2 ;;
esac
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
build/dalle-vk --list-devices
if ! build/dalle-vk --list-devices | grep -qvi 'llvmpipe\|lavapipe'; then
  echo "gpu-check: no GPU found; the numbers below are the CPU driver's" >&2
fi
ctest --test-dir build --output-on-failure \
  -R '^test_(matmul|conv|norm|embed|attention|window|sample|parity|image_ops|vqgan_ops|vqgan|decode|e2e|public|min_dalle)$'
build/bench/dalle-vk-bench matmul --quick
build/bench/dalle-vk-bench decode
cache="${XDG_CACHE_HOME:-$HOME/.cache}/dalle-vk/bench"; mkdir -p "$cache"
[ -f "$cache/vqgan-f16.gguf" ] || /usr/bin/python3 tools/make_random_vqgan.py "$cache/vqgan-f16.gguf" --no-encoder
build/bench/bench_vqgan "$cache/vqgan-f16.gguf" --repeat 3
if [ "$quick" = 0 ]; then
  for type in f16 q8_0; do
    PYTHONPATH=tools /usr/bin/python3 tools/bench_public_sizes.py --model malevich minidalle mini mega --type "$type" \
      --bench build/bench/dalle-vk-bench
  done
fi
