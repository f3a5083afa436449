#!/usr/bin/python3
"""Converts public DALL-E-family checkpoints to a dalle-vk model file (GGUF, docs/model-format.md §8).

  /usr/bin/python3 tools/convert.py openai-dvae DIR -o dvae.gguf          # DIR holds decoder.pkl, encoder.pkl
  /usr/bin/python3 tools/convert.py vqgan stage1_last.ckpt -o vqgan.gguf  # taming / minDALL-E VQGAN
  /usr/bin/python3 tools/convert.py dalle-mini pretrained/dalle_bart_mini -o mini.gguf  # DALL-E Mini / Mega (§9)
Options: --type f16 (default) or f32; `convert.py FAMILY --help` lists the rest. The code lives in
tools/dallevk/convert/.
"""
import sys

from dallevk.convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
