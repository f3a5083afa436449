#!/bin/bash
# One PNG that shows what the CLI gives for a few prompts over several seeds: the grids behind the
# prompt-fidelity counts in assets/MODEL_CARD.md ("seeds 1-6, best 4 of 32").
# Usage: [SEEDS="1 2 3 4 5 6"] [EXTRA="--top-p 0.8"] tools/seed_grid.sh MODEL OUT.png "PROMPT" ["PROMPT" ...]
#   one row per prompt; per seed, the 4 images of `build/dalle-vk MODEL PROMPT -n 4 --seed S $EXTRA`
#   (the best 4 of 32 candidates with the file's settings, written --separate) side by side, 8 px between seeds.
# Needs build/dalle-vk (scripts/setup.sh) and Debian's python3-pil. Takes ~8 s per prompt and seed on 2 cores.
set -euo pipefail
MODEL=$(realpath -m -- "${1:?usage: tools/seed_grid.sh MODEL OUT.png PROMPT...}")
OUT=$(realpath -m -- "${2:?usage: tools/seed_grid.sh MODEL OUT.png PROMPT...}")
shift 2
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "seed_grid: no prompt given" >&2; exit 2; }
SEEDS=${SEEDS:-1 2 3 4 5 6}
EXTRA=${EXTRA:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
i=0
for p in "$@"; do
  for s in $SEEDS; do
    # shellcheck disable=SC2086  # EXTRA holds several options
    build/dalle-vk --model "$MODEL" "$p" -n 4 --seed "$s" -q --separate $EXTRA -o "$TMP/cell_$(printf %04d $i).png" >/dev/null
    i=$((i + 1))
  done
done
/usr/bin/python3 - "$OUT" "$TMP" "$(echo $SEEDS | wc -w)" <<'PY'
import glob, os, sys
from PIL import Image
out, tmp, per_row = sys.argv[1], sys.argv[2], int(sys.argv[3])
# --separate wrote cell_K-0.png .. cell_K-3.png per run: sorted, 4 consecutive files are one run
tiles = [Image.open(f).convert("RGB") for f in sorted(glob.glob(os.path.join(tmp, "cell_*-[0-3].png")))]
cells = [tiles[k:k + 4] for k in range(0, len(tiles), 4)]
t = tiles[0].size[0]
gap = 8
sheet = Image.new("RGB", (per_row * (4 * t + gap) - gap, t * (len(cells) // per_row)), "white")
for k, cell in enumerate(cells):
    r, c = divmod(k, per_row)
    for q, tile in enumerate(cell):
        sheet.paste(tile, (c * (4 * t + gap) + q * t, r * t))
tmp_out = out + ".tmp.png"
sheet.save(tmp_out)
os.replace(tmp_out, out)
print(f"seed_grid: wrote {out} ({len(cells) // per_row} prompts x {per_row} seeds x 4 images)")
PY
