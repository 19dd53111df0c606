"""Per-question latency of each backbone at k = 4, 8, 16, 32, with random weights (no download).

For each backbone: build `NAME:weights=random` (the published architecture, bf16 on CUDA) or
`NAME:size=tiny`, load it once, answer one warm-up question, then answer a five-option question
about k random frames of 336x597 (a 16:9 video decoded at short side 336) `--runs` times. Prints
a markdown table of the median `answer` time (processor plus generate, CUDA-synchronised, as
the runner's `t_answer_s`), its preprocessing share, `n_visual_tokens` and peak GPU memory.
Random weights never emit the end token, so every answer generates exactly --max-new-tokens
tokens; the reference to compare with is LLaVA-NeXT-Video-34B on an A100 (fp16, batch 1):
0.56 / 0.92 / 1.71 / 3.40 s at k = 4 / 8 / 16 / 32.

    python -m perf.backbone_latency --device cuda                       # the GPU table
    python -m perf.backbone_latency --size tiny --device cpu --runs 3   # that it works, on a CPU
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from bench.registry import backbones
from bench.timing import timed

PROMPT = (
    "What colour is the shape that appears in the video?\nA. red\nB. green\nC. blue\nD. yellow\nE. purple\n"
    "Answer with the option's letter from the given choices directly."
)


def measure(spec: str, frames: tuple[int, ...], args: argparse.Namespace) -> list[tuple]:
    """(spec, k, n_visual_tokens, median answer s, median preprocess s, peak GB) per k."""
    import torch

    backbone = backbones.build(spec)
    backbone.load(args.device)
    pixels = np.random.default_rng(0).integers(0, 256, size=(max(frames), args.height, args.width, 3), dtype=np.uint8)
    backbone.answer(pixels[: frames[0]], PROMPT, args.max_new_tokens)  # warm-up: kernels, allocator, caches
    rows = []
    for k in frames:
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        answer_s, preprocess_s = [], []
        for _ in range(args.runs):
            with timed(args.device) as took:
                reply = backbone.answer(pixels[:k], PROMPT, args.max_new_tokens)
            answer_s.append(took[0])
            preprocess_s.append(reply.t_preprocess_s)
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else 0.0
        rows.append((backbone.spec, k, reply.n_visual_tokens, statistics.median(answer_s), statistics.median(preprocess_s), peak))
    backbone.release()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="qwen2-vl,qwen2.5-vl,qwen3-vl,llava-next-video,llava-onevision,internvl3,idefics2,pllava")
    parser.add_argument("--frames", default="4,8,16,32")
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--height", type=int, default=336)
    parser.add_argument("--width", type=int, default=597)
    args = parser.parse_args()
    frames = tuple(int(k) for k in args.frames.split(","))
    suffix = ":size=tiny" if args.size == "tiny" else ":weights=random"
    print("| backbone | k | visual tokens | answer (s) | of which preprocess (s) | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|---|")
    for name in args.backbones.split(","):
        for spec, k, tokens, answer_s, preprocess_s, peak in measure(name + suffix, frames, args):
            memory = f"{peak:.1f}" if args.device == "cuda" else "-"
            print(f"| {spec} | {k} | {tokens} | {answer_s:.3f} | {preprocess_s:.3f} | {memory} |", flush=True)


if __name__ == "__main__":
    main()
