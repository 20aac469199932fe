"""Training examples: prompt templates, answer-only loss, train split only, integrity of the stored file."""

from __future__ import annotations

import pytest

from governance.services.datasets import dataset_version_path
from training.trainer.data import DataError, StoredRecord, build_examples, encode, load_tokenizer, read_split
from training.trainer.loop import collate

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokenizer(demo_model_dir):
    return load_tokenizer(str(demo_model_dir))


def test_an_input_output_record_becomes_a_user_turn_and_an_answer_ending_in_eos(tokenizer):
    example = encode(tokenizer, StoredRecord(0, "x", {"input": "Where is my invoice?", "output": "billing"}))
    prompt = tokenizer.decode(example.prompt_ids)
    assert prompt.startswith("<|bos|><|user|>\nWhere is my invoice?") and prompt.endswith("<|assistant|>\n")
    assert example.answer_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(example.answer_ids, skip_special_tokens=True) == "billing"


def test_in_a_chat_record_only_the_last_assistant_turn_is_the_answer(tokenizer):
    messages = [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Invoice?"},
        {"role": "assistant", "content": "In billing."},
    ]  # fmt: skip
    example = encode(tokenizer, StoredRecord(0, "x", {"messages": messages}))
    assert "Hello" in tokenizer.decode(example.prompt_ids)
    assert tokenizer.decode(example.answer_ids, skip_special_tokens=True) == "In billing."


def test_labels_mask_the_prompt_and_the_padding_so_loss_is_on_the_answer_only(tokenizer):
    import torch

    short = encode(tokenizer, StoredRecord(0, "a", {"input": "Hi", "output": "yes"}))
    long = encode(tokenizer, StoredRecord(1, "b", {"input": "A much longer question here", "output": "no"}))
    batch = collate([short, long], tokenizer.pad_token_id, torch.device("cpu"))
    labels = batch["labels"][0].tolist()
    n_prompt, n_answer = len(short.prompt_ids), len(short.answer_ids)
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt : n_prompt + n_answer] == short.answer_ids
    assert set(labels[n_prompt + n_answer :]) <= {-100}
    assert batch["attention_mask"][0].sum() == n_prompt + n_answer


def test_examples_come_from_the_train_split_only(tokenizer, version):
    from governance.models import DatasetRecord

    examples, too_long = build_examples(tokenizer, version, max_seq_length=64)
    train = set(DatasetRecord.objects.filter(version=version, split="train").values_list("sha256", flat=True))
    assert {e.sha256 for e in examples} == train and too_long == 0


def test_records_longer_than_the_limit_are_skipped_not_truncated(tokenizer, version):
    examples, too_long = build_examples(tokenizer, version, max_seq_length=20)
    assert too_long > 0 and all(e.length <= 20 for e in examples)


def test_a_record_changed_on_disk_is_detected_by_its_hash(version):
    path = dataset_version_path(version)
    path.write_bytes(path.read_bytes().replace(b"Ticket", b"Tacket", 1))
    with pytest.raises(DataError, match="does not match its sha256"):
        list(read_split(version, "train")) + list(read_split(version, "holdout"))
