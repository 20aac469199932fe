"""A tiny causal LM built from a config, with a BPE tokenizer trained here: the demo's and the tests' model.

No download: the tokenizer learns its merges from a small built-in corpus (plus any texts given), the
weights are randomly initialised from a fixed seed. A few million parameters train in seconds on a CPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
CORPUS = [
    "How do I reset my password? Open the settings page, choose security and click reset password.",
    "Where is my invoice? Invoices are in the billing section of your account, one per month.",
    "Can I change the delivery address? Yes, until the parcel is dispatched, from the order page.",
    "How do I close my account? Write to support; we close it within thirty days and confirm by e-mail.",
    "The payment failed. Check the card details, the limit and try again, or choose a bank transfer.",
    "Refunds reach your account within five working days after we receive the returned goods.",
    "Our support team answers from Monday to Friday, between eight and six o'clock.",
    "Jak zresetować hasło? Otwórz ustawienia, wybierz bezpieczeństwo i kliknij resetuj hasło.",
    "Gdzie jest moja faktura? Faktury są w sekcji rozliczeń na koncie klienta.",
    "Classify the ticket: billing, delivery, account, technical or other.",
    "positive negative neutral billing delivery account technical other yes no",
    "The quick brown fox jumps over the lazy dog. Zażółć gęślą jaźń.",
]  # fmt: skip


# What the README suggests for a fine-tune job on the demo dataset: enough for the tiny model to learn the
# ticket -> queue mapping in about a minute on a CPU (tests/training/test_demo_learns.py checks it).
# LoRA on every linear layer: the demo weights are random, so attention alone learns too little.
DEMO_HYPERPARAMETERS: dict[str, Any] = {
    "rank": 16,
    "alpha": 32,
    "epochs": 5,
    "learning_rate": 0.005,
    "batch_size": 8,
    "max_seq_length": 96,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
DEMO_JOB_SEED = 1  # the seed the test trains with; other seeds learn the task too, with more spread


def build_tokenizer(texts: Iterable[str], *, vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    # A dict, because ruff's S106 reads `*_token=` keywords as passwords.
    special = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>"}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        **special,
        additional_special_tokens=SPECIAL_TOKENS[3:],
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_demo_model(
    target: Path,
    *,
    extra_texts: Iterable[str] = (),
    hidden_size: int = 256,
    layers: int = 2,
    vocab_size: int = 4096,
    max_positions: int = 512,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a tiny Llama-architecture model (safetensors) and its tokenizer to `target`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} exists")
        shutil.rmtree(target)
    texts = [*CORPUS * 20, *extra_texts]
    tokenizer = build_tokenizer(texts, vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    target.mkdir(parents=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / "LICENSE").write_text("Randomly initialised demo weights generated locally; no restrictions.\n")
    return target
