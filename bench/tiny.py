"""A small tokenizer made locally, for the tiny random models that tests and CI run offline.

Byte-level BPE trained in milliseconds on a fixed paragraph, so any text encodes, the result
is the same on every machine, and nothing is downloaded. Each tiny model adds the special
tokens its processor needs (image and video placeholders, chat markers).
"""

from __future__ import annotations

from typing import Sequence

CORPUS = (
    "What colour is the shape that appears in the video? Answer with the option's letter from the "
    "given choices directly. The answer is A. B. C. D. E. Yes, no, true, false. Does this frame help "
    "answer the question? Evaluation: True. Evaluation: False. A person walks into the room, picks up "
    "a red cup and puts it on the table, then the man opens the door and the woman sits down. Describe "
    "the frame in one sentence: a grey textured background, a blue square, a green disc, a yellow "
    "triangle, people, cars, a dog, the sky, water, a kitchen, a street. user assistant system 0 1 2 3 "
    "4 5 6 7 8 9 seconds frames why how when where before after during"
)


def tiny_tokenizer(special_tokens: Sequence[str] = (), vocab_size: int = 600, chat_template: str | None = None, **kwargs):
    """A `PreTrainedTokenizerFast` with byte-level BPE and `special_tokens` added as single tokens.

    `kwargs` are passed on (e.g. `eos_token="<|im_end|>"`, `pad_token=...`).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    model.train_from_iterator([CORPUS], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model, **kwargs)
    tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer
