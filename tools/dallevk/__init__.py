"""dalle-vk Python reference: BPE tokenizer, dVAE, DALL-E transformer, data helpers."""
