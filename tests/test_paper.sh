#!/usr/bin/env bash
# Paper-sized check (ctest label "slow"; needs python3-torch and ~6 GB of memory; a few minutes on 2 cores):
# tools/paper_check.py writes the models + PyTorch goldens, tests/test_paper.c compares the engine.
# Usage: tests/test_paper.sh BUILD_DIR
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 tools/paper_check.py "$dir"
"$1/tests/test_paper" "$dir"
