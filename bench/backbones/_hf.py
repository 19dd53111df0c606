"""What the transformers backbones share: build, run, time, generate, judge frames, release.

Each backbone module (qwen2_vl, llava_next_video, idefics2, pllava) names its checkpoint, chat
template and visual input and subclasses `HFBackbone`, which does the rest the same way for all:

- `size=full, weights=pretrained`: the checkpoint and its own processor from a Hugging Face id or
  a local `path`.
- `size=full, weights=random`: the published architecture (the default checkpoint's config.json
  values, or the config at `path`) with random weights and a processor built locally with the
  published image/video settings, for timing without downloading weights.
- `size=tiny`: a few layers of hidden size 32-64, random weights, for tests and CI.

Random weights come from a fixed seed, so two loads give the same model. Local builds use a
tokenizer made on the spot (`bench.tiny`): its special tokens get small ids, and the config's
placeholder ids are set to them; nothing else departs from the published config.

bf16 on CUDA, fp32 on CPU, sdpa attention, `torch.inference_mode`, greedy decoding. The
processor's share of an answer (chat template, resizing, patching, transfer) is timed apart,
CUDA-synchronised, as `Reply.t_preprocess_s`.

The frame-judge duties show each frame alone, as an image input, `judge_batch` frames per
forward pass. `frame_relevance` asks `JUDGE_PROMPT` and reads p(True) / (p(True) + p(False))
off the next-token logits, with the first token of each bare word; the seed paper's judge
reasons first and ends with "Evaluation: True/False", but its prompt is unpublished and a
generation per candidate would cost 128 decodes a video. `caption` generates up to 32 tokens.
"""

from __future__ import annotations

import gc
from typing import Any, ClassVar, Iterator

import numpy as np

from bench.records import Reply
from bench.registry import RegistryError
from bench.timing import timed

JUDGE_PROMPT = "{question}\nDoes this frame help answer the question? Answer True or False."
CAPTION_PROMPT = "Describe this frame in one short sentence."
CAPTION_TOKENS = 32


class HFBackbone:
    """A frozen M-LLM from transformers; a subclass names its checkpoint, builders and visual input."""

    name: ClassVar[str]  # set by the registry
    default_path: ClassVar[str]
    visual_token: ClassVar[str]  # the placeholder repeated once per visual token in the input ids
    placeholders: ClassVar[dict[str, str]]  # config attribute -> special token whose id it holds

    def __init__(self, path: str = "", size: str = "full", weights: str = "pretrained", judge_batch: int = 8) -> None:
        if size not in ("full", "tiny"):
            raise RegistryError(f"{self.spec}: size must be full or tiny, not {size!r}")
        if weights not in ("pretrained", "random"):
            raise RegistryError(f"{self.spec}: weights must be pretrained or random, not {weights!r}")
        self.path = path or self.default_path
        self.size = size
        self.weights = weights  # size=tiny always has random weights
        self.judge_batch = judge_batch  # frames per forward pass when judging or captioning
        self.device = "cpu"
        self.dtype: Any = None  # set by load: bf16 on CUDA, fp32 on CPU
        self.model: Any = None
        self.processor: Any = None

    # what a subclass provides
    def model_class(self) -> type:
        """The transformers class of the model."""
        raise NotImplementedError

    def local_processor(self, tiny: bool) -> Any:
        """The processor with a local tokenizer and the published (or tiny) image/video settings."""
        raise NotImplementedError

    def published_config(self) -> Any:
        """The default checkpoint's config.json values."""
        raise NotImplementedError

    def tiny_config(self, vocab_size: int) -> Any:
        """A config of the same architecture, a few layers of width 32-64."""
        raise NotImplementedError

    def visual_content(self, n_frames: int, video: bool) -> list[dict]:
        """The visual entries of the user turn for a clip of n_frames (a video, or one image)."""
        raise NotImplementedError

    # loading
    def load(self, device: str) -> None:
        """Download or build the model and its processor, once per run."""
        import torch

        self.device = device
        self.dtype = torch.bfloat16 if device == "cuda" else torch.float32
        if self.size == "full" and self.weights == "pretrained":
            self.model, self.processor = self.pretrained()
        else:
            self.processor = self.local_processor(tiny=self.size == "tiny")
            tokenizer = self.processor.tokenizer
            config = self.config(tokenizer)
            torch.manual_seed(0)  # the same random weights on every load
            with torch.device(device):
                self.model = self.random(config)
            self.model.generation_config.eos_token_id = tokenizer.eos_token_id
            self.model.generation_config.pad_token_id = tokenizer.pad_token_id
        self.model.eval()
        self.processor.tokenizer.padding_side = "left"  # batched judging reads every row's last position

    def pretrained(self) -> tuple[Any, Any]:
        """(model, processor) of the checkpoint at `path`."""
        from transformers import AutoProcessor

        model = self.model_class().from_pretrained(self.path, dtype=self.dtype, attn_implementation="sdpa", device_map=self.device)
        return model, AutoProcessor.from_pretrained(self.path)

    def config(self, tokenizer: Any) -> Any:
        """The config to build with random weights, placeholder ids set to the local tokenizer's."""
        if self.size == "tiny":
            config = self.tiny_config(len(tokenizer))
        elif self.path == self.default_path:
            config = self.published_config()
        else:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.path)
        for key, token in self.placeholders.items():
            setattr(config, key, tokenizer.convert_tokens_to_ids(token))
        return config

    def random(self, config: Any) -> Any:
        """The model built from `config` with random weights."""
        return self.model_class()._from_config(config, dtype=self.dtype, attn_implementation="sdpa")

    def release(self) -> None:
        """Free memory before the next backbone loads."""
        self.model = self.processor = None
        gc.collect()
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()

    # answering
    def answer(self, frames: np.ndarray, prompt: str, max_new_tokens: int) -> Reply:
        """Greedy answer to `prompt` about frames uint8 (k, H, W, 3), RGB, in time order."""
        with timed(self.device) as took:
            inputs = self.inputs([frames], [prompt], video=True)
        new = self.generate(inputs, max_new_tokens)
        text = self.processor.tokenizer.decode(new[0], skip_special_tokens=True)
        return Reply(text, n_visual_tokens=self.count_visual(inputs), t_preprocess_s=took[0])

    def inputs(self, clips: list[np.ndarray], texts: list[str], video: bool) -> Any:
        """Model inputs on the device for a batch of (clip, text), in the model's chat template."""
        prompts = [
            self.processor.apply_chat_template(
                [{"role": "user", "content": [*self.visual_content(len(clip), video), {"type": "text", "text": text}]}],
                add_generation_prompt=True,
                tokenize=False,
            )
            for clip, text in zip(clips, texts)
        ]
        return self.process(prompts, clips, video).to(self.device, dtype=self.dtype)

    def process(self, prompts: list[str], clips: list[np.ndarray], video: bool) -> Any:
        """The processor's output for prompts and clips: each clip one video, or its first frame one image."""
        visual = {"videos": list(clips)} if video else {"images": [clip[0] for clip in clips]}
        return self.processor(text=prompts, **visual, return_tensors="pt", padding=True)

    def count_visual(self, inputs: Any) -> int:
        """Visual tokens the language model reads for the first item of the batch."""
        token = self.processor.tokenizer.convert_tokens_to_ids(self.visual_token)
        return int((inputs["input_ids"][0] == token).sum())

    def generate(self, inputs: Any, max_new_tokens: int) -> Any:
        """Greedy continuation: the new token ids, (batch, <= max_new_tokens)."""
        import torch

        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return out[:, inputs["input_ids"].shape[1] :]

    def next_token_logits(self, inputs: Any) -> Any:
        """float32 (batch, vocab): the logits of the token after each prompt."""
        import torch

        with torch.inference_mode():
            return self.model(**inputs, logits_to_keep=1).logits[:, -1].float()

    # the frame-judge duties of the spatial and temporal selectors
    def frame_relevance(self, frames: np.ndarray, question: str) -> np.ndarray:
        """float32 (N,): p(True) / (p(True) + p(False)) of the next token, each frame judged alone."""
        import torch

        tokenizer = self.processor.tokenizer
        true, false = (tokenizer.encode(word, add_special_tokens=False)[0] for word in ("True", "False"))
        scores = []
        for inputs in self.single_frames(frames, JUDGE_PROMPT.format(question=question)):
            logits = self.next_token_logits(inputs)
            scores.append(torch.sigmoid(logits[:, true] - logits[:, false]))  # = p(True) / (p(True) + p(False))
        return torch.cat(scores).cpu().numpy().astype(np.float32)

    def caption(self, frames: np.ndarray) -> tuple[str, ...]:
        """One short caption per frame of uint8 (N, H, W, 3), greedy, batched."""
        captions: list[str] = []
        for inputs in self.single_frames(frames, CAPTION_PROMPT):
            captions += self.processor.tokenizer.batch_decode(self.generate(inputs, CAPTION_TOKENS), skip_special_tokens=True)
        return tuple(caption.strip() for caption in captions)

    def single_frames(self, frames: np.ndarray, text: str) -> Iterator[Any]:
        """Model inputs for each batch of `judge_batch` frames, every frame an image alone with `text`."""
        for start in range(0, len(frames), self.judge_batch):
            chunk = np.array(frames[start : start + self.judge_batch])  # a writable copy: candidates come memory-mapped
            yield self.inputs([frame[None] for frame in chunk], [text] * len(chunk), video=False)
