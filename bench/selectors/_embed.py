"""CLIP or SigLIP embeddings of candidates and questions, shared by `clip` and the peers.

Image embeddings do not depend on the question, so they are computed once per video (in
batches) and cached under `<cache>/embeddings`, keyed by model, size and the candidates' key;
every later question about the same video costs one text encode. Embeddings are the raw
projected features, not normalised: Q-Frame reads raw dot products, the others normalise.

`size="tiny"` builds a small CLIPModel or SiglipModel with random weights (seeded, so every
process builds the same one and the cache stays valid), a local image processor and
`bench.tiny.tiny_tokenizer`: every real code path runs offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.options import with_options
from bench.records import Candidates, Query
from bench.store import ArrayStore, declare, default_root, digest

DEFAULT_MODEL = "openai/clip-vit-large-patch14"
SIZES = ("full", "tiny")
TEXTS = ("question", "question+options")
BATCH = 32  # candidates per forward pass of the image tower

EMBEDDINGS = declare("embeddings", "embeddings")


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


class Embedder:
    """One CLIP/SigLIP model: cached image embeddings per video, a text embedding per question."""

    def __init__(self, model: str = DEFAULT_MODEL, size: str = "full", text: str = "question", cache_dir: Path | None = None) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
        if text not in TEXTS:
            raise ValueError(f"text must be one of {', '.join(TEXTS)}, not {text!r}")
        self.model_name, self.size, self.text_mode = model, size, text
        self.store = ArrayStore(Path(cache_dir or default_root()) / EMBEDDINGS)
        self._model = None

    @property
    def siglip(self) -> bool:
        return "siglip" in self.model_name.lower()

    def load(self, device: str) -> None:
        """Build or download the model once; heavy imports happen here."""
        import torch

        if self.size == "tiny":
            self._model, self._processor, self._tokenizer = _tiny(self.siglip)
        else:
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

            dtype = torch.float16 if device == "cuda" else torch.float32
            self._model = AutoModel.from_pretrained(self.model_name, dtype=dtype)
            self._processor = AutoImageProcessor.from_pretrained(self.model_name)
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        self._model.to(device).eval()
        self._device = device

    def release(self) -> None:
        """Drop the model."""
        self._model = self._processor = self._tokenizer = None

    def _key(self, candidates: Candidates) -> str:
        return digest("image-embeddings", self.model_name, self.size, candidates.key)

    def cached_images(self, candidates: Candidates) -> np.ndarray | None:
        """float32 (N, D) from the cache, or None; needs no model."""
        hit = self.store.load(self._key(candidates))
        return None if hit is None else np.asarray(hit[0]["images"])

    def images(self, candidates: Candidates) -> np.ndarray:
        """float32 (N, D): projected image embeddings of the candidates, from the cache when there."""
        cached = self.cached_images(candidates)
        if cached is not None:
            return cached
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(candidates.frames), BATCH):
                batch = list(np.array(candidates.frames[start : start + BATCH]))  # a writable copy of the memory-mapped cache
                pixels = self._processor(images=batch, return_tensors="pt").pixel_values
                out = self._model.get_image_features(pixel_values=pixels.to(self._device, self._model.dtype))
                parts.append(out.pooler_output.float().cpu().numpy())
        embeddings = np.concatenate(parts).astype(np.float32)
        self.store.save(self._key(candidates), {"images": embeddings}, {"model": self.model_name, "size": self.size})
        return embeddings

    def images_at(self, candidates: Candidates, indices: np.ndarray) -> np.ndarray:
        """float32 (len(indices), D): embeddings of some candidates only, for a selector that scores lazily (focus).

        The whole video's entry serves when it is cached. Otherwise only the frames not embedded
        before are run through the model, and the video's partial entry (every embedding known so
        far and a mask of which) grows by them, so each frame is embedded once whichever question
        asks. Two processes growing one entry at once may lose each other's frames: those are
        embedded again later, never wrong.
        """
        indices = np.asarray(indices, dtype=np.int64)
        whole = self.cached_images(candidates)
        if whole is not None:
            return whole[indices]
        key = digest("partial-image-embeddings", self.model_name, self.size, candidates.key)
        hit = self.store.load(key)
        known = np.zeros(len(candidates.frames), dtype=bool) if hit is None else np.array(hit[0]["known"])
        vectors = None if hit is None else np.array(hit[0]["images"])
        missing = np.unique(indices[~known[indices]])
        if len(missing):
            fresh = self._encode(candidates.frames, missing)
            if vectors is None:
                vectors = np.zeros((len(known), fresh.shape[1]), dtype=np.float32)
            vectors[missing], known[missing] = fresh, True
            self.store.save(key, {"images": vectors, "known": known}, {"model": self.model_name, "size": self.size})
        return vectors[indices]

    def _encode(self, frames: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """float32 (len(indices), D): the image tower's projected features of frames[indices], in batches."""
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(indices), BATCH):
                batch = list(np.array(frames[indices[start : start + BATCH]]))  # a writable copy of the memory-mapped cache
                pixels = self._processor(images=batch, return_tensors="pt").pixel_values
                out = self._model.get_image_features(pixel_values=pixels.to(self._device, self._model.dtype))
                parts.append(out.pooler_output.float().cpu().numpy())
        return np.concatenate(parts).astype(np.float32)

    def question(self, query: Query) -> np.ndarray:
        """float32 (D,): the projected embedding of the question (and options, for text=question+options)."""
        return self.text(with_options(query.question, query.options) if self.text_mode == "question+options" else query.question)

    def cosine(self, query: Query) -> np.ndarray:
        """float64 (N,): cosine similarity of each candidate's embedding to the question's."""
        return normalise(self.images(query.candidates).astype(np.float64)) @ normalise(self.question(query).astype(np.float64))

    def text(self, text: str) -> np.ndarray:
        """float32 (D,): the projected embedding of `text`, truncated to the model's context."""
        import torch

        # SigLIP was trained on text padded to its full context and pools the last position
        padding = "max_length" if self.siglip else True
        limit = self._model.config.text_config.max_position_embeddings
        tokens = self._tokenizer([text], padding=padding, truncation=True, max_length=limit, return_tensors="pt")
        with torch.inference_mode():
            out = self._model.get_text_features(input_ids=tokens.input_ids.to(self._device))
        return out.pooler_output[0].float().cpu().numpy()


def _tiny(siglip: bool):
    """(model, image processor, tokenizer): a small random CLIP or SigLIP, the same in every process."""
    import torch
    from tokenizers.processors import TemplateProcessing
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, SiglipConfig, SiglipImageProcessor, SiglipModel

    from bench.tiny import tiny_tokenizer

    start, end = "<|startoftext|>", "<|endoftext|>"
    tokenizer = tiny_tokenizer([start, end], bos_token=start, eos_token=end, pad_token=end)
    bos, eos = tokenizer.convert_tokens_to_ids([start, end])
    # CLIP pools the hidden state at the first end-of-text token, so every text must end with one
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single=f"{start} $A {end}", special_tokens=[(start, bos), (end, eos)])
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    text = dict(tower, vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    vision = dict(tower, image_size=32, patch_size=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if siglip:
            model = SiglipModel(SiglipConfig(text_config=dict(text, max_position_embeddings=64), vision_config=vision))
            processor = SiglipImageProcessor(size={"height": 32, "width": 32})
        else:
            model = CLIPModel(CLIPConfig(text_config=dict(text, max_position_embeddings=77), vision_config=vision, projection_dim=16))
            processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, processor, tokenizer
