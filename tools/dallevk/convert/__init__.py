"""Conversion of public DALL-E-family checkpoints to dalle-vk model files (docs/model-format.md §8).

Modules:
  torchfile     reads PyTorch checkpoint files (torch.save zip or legacy format) without importing or
                running the classes they name: a restricted unpickler with lazy tensors
  ggufstream    a GGUF writer that reads each tensor from its source only while writing it
  openai_dvae   OpenAI's encoder.pkl / decoder.pkl -> dvae.* (the engine's dVAE section)
  taming_vqgan  taming-transformers VQGAN .ckpt (VQ or Gumbel quantizer) -> vqgan.*
  yttm          YouTokenToMe bpe.model (ruDALL-E) -> tokenizer.* keys, and its encoder
  charbpe       HF CharBPE vocab.json + merges.txt (minDALL-E) -> tokenizer.* keys, and its encoder
  bpe_queue     the merge loop both tokenizers share
  cli           the command line of tools/convert.py

Every failure raises ConvertError with a message that names the input file and, where there is one,
the key and the expected shape.
"""


class ConvertError(Exception):
    """A checkpoint that cannot be converted; str() is the message for the user."""
