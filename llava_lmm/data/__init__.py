"""Conversation templates, tokenisation + label masking, dataset, collator, sampler, images."""
