"""framebench inside other evaluation harnesses: `lmms_eval` is the `framebench` model lmms-eval loads
through its `lmms_eval.models` entry point. Nothing in framebench imports these modules; the
harness does, and only where it is installed."""
