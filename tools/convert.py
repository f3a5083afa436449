#!/usr/bin/python3
"""Converts public DALL-E-family checkpoints to a dalle-vk model file (GGUF, docs/model-format.md §8).

  /usr/bin/python3 tools/convert.py openai-dvae DIR -o dvae.gguf          # DIR holds decoder.pkl, encoder.pkl
  /usr/bin/python3 tools/convert.py vqgan stage1_last.ckpt -o vqgan.gguf  # taming / minDALL-E VQGAN
  /usr/bin/python3 tools/convert.py rudalle pytorch_model_v3.bin --model Malevich --vqgan VQGAN.ckpt --bpe bpe.model \
      -o malevich.gguf                                                    # ruDALL-E (§8.3)
  /usr/bin/python3 tools/convert.py mindalle 1.3B -o mindalle.gguf       # minDALL-E, the unpacked tarball (§8.4)
  /usr/bin/python3 tools/convert.py dalle-mini pretrained/dalle_bart_mini -o mini.gguf  # DALL-E Mini / Mega (§9)
Options: --type f16 (default), f32 or q8_0; `convert.py FAMILY --help` lists the rest. The code lives in
tools/dallevk/convert/.
"""
import sys

from dallevk.convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
