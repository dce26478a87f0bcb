"""Index snapshots: a start loads the index's arrays instead of analyzing every passage again.

A snapshot is one ``.npz`` file (numpy's zip of arrays, no pickles) holding every array of a
``PassageIndex``, its BM25 core and its counts per owner (bot/engine/visible.py), and a header:
the tag it was saved with (the store's id, the change it includes, k1, b, the shards, a hash of
the code that turns text into terms) and a CRC-32 of every array. ``load`` returns nothing unless all of that matches and the arrays fit
together; the engine then rebuilds from the store. A snapshot is written to a temporary file and
renamed, so a crash while saving leaves the previous one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from bot.engine import analyzer, bm25, incremental, index as index_module, visible
from bot.engine.bm25 import BM25Core, Postings
from bot.engine.index import PassageIndex
from bot.engine.visible import OwnerCounts

log = logging.getLogger(__name__)

FORMAT = 2  # 2: (tf, length) pairs instead of tf parts, counts per owner
_OWNER_ARRAYS = tuple(f"owner_{name}" for name in OwnerCounts.__dataclass_fields__)
_ARRAYS = ("tokens", "offsets", "passage_ids", "doc_ids", "guild_ids", "doc_len", "idf", "ptr", "posting_passage", "shape", "shape_tf", "shape_dl", "vocabulary", *_OWNER_ARRAYS)


@functools.cache
def code_version() -> str:
    """A hash of the code that decides an index's terms and arrays (the analyzer, the builder,
    the postings, the per-server counts): a change to it makes old snapshots stale."""
    digest = hashlib.sha256()
    for module in (analyzer, index_module, incremental, bm25, visible):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def _arrays(index: PassageIndex) -> dict[str, np.ndarray]:
    core = index.core
    return {
        "tokens": index.tokens,
        "offsets": index.offsets,
        "passage_ids": index.passage_ids,
        "doc_ids": index.doc_ids,
        "guild_ids": index.guild_ids,
        "doc_len": core.doc_len,
        "idf": core.idf,
        "ptr": core.postings.ptr,
        "posting_passage": core.postings.passage,
        "shape": core.postings.shape,
        "shape_tf": core.postings.shape_tf,
        "shape_dl": core.postings.shape_dl,
        # Terms never contain whitespace (the analyzer splits on it), so newlines separate them.
        "vocabulary": np.frombuffer("\n".join(index.vocabulary).encode("utf-8"), dtype=np.uint8),
    } | {f"owner_{name}": array for name, array in index.owners.arrays().items()}


def _checksum(array: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(array)).cast("B"))


def save(index: PassageIndex, path: Path, tag: dict, change: int) -> None:
    """Write ``index`` as the snapshot of ``tag`` at store change ``change`` (atomically)."""
    arrays = _arrays(index)
    header = {"format": FORMAT, "tag": tag, "change": change, "crc": {name: _checksum(a) for name, a in arrays.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with temporary.open("wb") as out:
            np.savez(out, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load(path: Path, tag: dict, *, k1: float, b: float) -> tuple[PassageIndex, int] | None:
    """(the index, the store change it includes) if ``path`` is a sound snapshot of ``tag``; else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(bytes(stored["header"]))
            if header.get("format") != FORMAT or header.get("tag") != tag:
                log.info("index snapshot %s is of another store, version or setting: rebuilding", path)
                return None
            arrays = {name: stored[name] for name in _ARRAYS}
        if any(_checksum(arrays[name]) != header["crc"][name] for name in _ARRAYS):
            raise ValueError("checksum mismatch")
        index = _assemble(arrays, k1=k1, b=b)
        return index, int(header["change"])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("index snapshot %s is damaged (%s): rebuilding", path, exc)
        return None


def _assemble(arrays: dict[str, np.ndarray], *, k1: float, b: float) -> PassageIndex:
    """The index from its arrays, after checking that they fit together."""
    vocabulary = bytes(arrays["vocabulary"]).decode("utf-8").split("\n") if len(arrays["vocabulary"]) else []
    tokens, offsets, ptr = arrays["tokens"], arrays["offsets"], arrays["ptr"]
    passages = len(offsets) - 1
    sound = (
        passages >= 0
        and offsets[0] == 0
        and offsets[-1] == len(tokens)
        and all(len(arrays[name]) == passages for name in ("passage_ids", "doc_ids", "guild_ids", "doc_len"))
        and len(arrays["idf"]) == len(vocabulary)
        and len(ptr) == len(vocabulary) + 1
        and ptr[-1] == len(arrays["posting_passage"]) == len(arrays["shape"])
        and len(arrays["shape_tf"]) == len(arrays["shape_dl"])
        and (not len(arrays["shape"]) or int(arrays["shape"].max()) < len(arrays["shape_tf"]))
        and (not len(tokens) or int(tokens.max()) < len(vocabulary))
    )
    if not sound:
        raise ValueError("arrays that do not fit together")
    core = BM25Core.from_arrays(
        doc_len=arrays["doc_len"],
        idf=arrays["idf"],
        postings=Postings(ptr, arrays["posting_passage"], arrays["shape"], arrays["shape_tf"], arrays["shape_dl"]),
        k1=k1,
        b=b,
    )
    owners = OwnerCounts.from_arrays({name.removeprefix("owner_"): arrays[name] for name in _OWNER_ARRAYS})
    if int(owners.passages.sum()) != passages or (len(owners.term) and int(owners.term.max()) >= len(vocabulary)):
        raise ValueError("owner counts of another index")
    return PassageIndex(
        tokens,
        offsets,
        vocabulary,
        arrays["passage_ids"],
        arrays["doc_ids"],
        arrays["guild_ids"],
        k1=k1,
        b=b,
        core=core,
        owners=owners,
    )
