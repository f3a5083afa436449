#!/usr/bin/env bash
# Installs everything dalle-vk needs from Debian (bookworm) packages, as root.
#   scripts/install-deps.sh          build + run deps (Vulkan headers, volk, glslang, lavapipe, stb; libmicrohttpd
#                                    and cJSON for `dalle-vk serve`)
#   scripts/install-deps.sh --convert  also what tools/convert.py needs to convert public checkpoints
#                                    (python3-numpy, python3-yaml, python3-emoji; no PyTorch)
#   scripts/install-deps.sh --dev    also test, benchmark and Python tooling deps (flake8: the Python lint;
#                                    headless Chromium, its driver and Selenium for the page test;
#                                    python3-emoji: the emoji names of DALL-E Mini's tokenizer)
# lavapipe comes from bookworm-backports (Mesa 25.x, about 4x faster than bookworm's 22.3). The backports
# source is derived from this machine's own Debian source entry, so no mirror host is written here.
set -euo pipefail
dev=0; convert=0
case "${1:-}" in
  "") ;;
  --dev) dev=1 ;;
  --convert) convert=1 ;;
  *) echo "install-deps: unknown option '$1' (expected --dev or --convert)" >&2; exit 2 ;;
esac
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

add_backports() {
  local f=/etc/apt/sources.list.d/dalle-vk-backports.sources
  [ -f "$f" ] && return 0
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # Take the first stanza whose Suites name bookworm (not -security) and retarget it at backports.
    awk 'BEGIN{RS="";ORS="\n\n"} /Suites:[^\n]*bookworm( |$|\n)/ && !/security/ {print; exit}' \
      /etc/apt/sources.list.d/debian.sources |
      sed -E 's/^Suites:.*/Suites: bookworm-backports/' | $SUDO tee "$f" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .* bookworm main' /etc/apt/sources.list | head -1 |
      sed -E 's/ bookworm main.*/ bookworm-backports main/' | $SUDO tee /etc/apt/sources.list.d/dalle-vk-backports.list >/dev/null
  fi
}

pkgs=(build-essential cmake pkg-config libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools libstb-dev
      libvulkan1 libmicrohttpd-dev libcjson-dev)
convert_pkgs=(python3 python3-numpy python3-yaml python3-emoji)
dev_pkgs=("${convert_pkgs[@]}" vulkan-validationlayers vulkan-tools libopenblas-dev python3-torch python3-pil
          flake8 chromium chromium-driver python3-selenium)
[ "$dev" = 1 ] && pkgs+=("${dev_pkgs[@]}")
[ "$convert" = 1 ] && pkgs+=("${convert_pkgs[@]}")

# Nothing to do (no sudo, no network) when every package is installed and Mesa is the backports build.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
mesa_bpo=0
installed mesa-vulkan-drivers && dpkg-query -W -f='${Version}' mesa-vulkan-drivers | grep -q bpo && mesa_bpo=1
if [ ${#missing[@]} = 0 ] && [ "$mesa_bpo" = 1 ]; then
  echo "install-deps: all packages already installed"
  exit 0
fi

add_backports
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
