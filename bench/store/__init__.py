"""Everything framebench keeps on disk besides the results CSVs, under the cache dir.

- `arrays`: the checksummed array store every entry goes through (`ArrayStore`), content keys,
  atomic writes, and what happens when the cache cannot be written;
- `frames`: decoded candidates (raw or JPEG), keyed by the video's content;
- `jpeg`: frames as JPEG bytes and back;
- `thumbs`: each decoded video's candidates as one small JPEG strip, for `bench view`;
- `scores`: each selector's N scores per sample;
- `verdicts`: the judge's verdicts on open-ended answers;
- `prune`: the kinds of entry and their folders, `bench cache info` and `bench cache prune`;
- `locks`: one writer per file (results CSVs, selections files).

Selectors keep embeddings, captions and features in `ArrayStore`s of their own, each in a
folder they declare with `declare`.
"""

from bench.store.arrays import ArrayStore, atomic_write_text, default_root, digest, file_key
from bench.store.prune import declare

__all__ = ["ArrayStore", "atomic_write_text", "declare", "default_root", "digest", "file_key"]
