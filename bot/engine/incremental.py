"""Adds and removes applied to an index's arrays in linear time, with no sort of every token.

A full build sorts every token (``build_postings``) and every posting (``OwnerCounts.count``):
seconds at 100k passages. A change touches a few passages, so ``PassageIndex.with_changes`` keeps
the arrays it has and edits them: the added passages' postings are built alone and put into each
term's list (passages appended at the end keep every list ascending), a removal filters the
removed passages' postings out and renumbers the remaining passages, and the counts per owner
change only for the owners whose passages changed. The cost is a few copies of the arrays.

The result is exactly what a fresh build over the same passages gives (tests/engine/
test_index_changes.py), except the numbering of (tf, length) pairs: a change appends the pairs it
brings, so existing postings keep theirs. That includes term ids in order of first occurrence,
which rank_bm25's average idf needs (bot/engine/bm25.py ``okapi_idf``): appended passages number
their new terms after every existing one; a removal drops the terms nobody has any more and
moves those whose first occurrence went with it.
"""

from __future__ import annotations

import numpy as np

from bot.engine.bm25 import Postings, build_postings
from bot.engine.visible import OwnerCounts

# (tf, length) pairs are looked up by tf * _PAIR_STRIDE + length: lengths are below 2**32.
_PAIR_STRIDE = 1 << 32


def appended_postings(old: Postings, tokens: np.ndarray, offsets: np.ndarray, first_row: int, vocabulary_size: int) -> tuple[Postings, Postings, np.ndarray]:
    """``old`` with the postings of passages ``tokens``/``offsets`` (term ids below
    ``vocabulary_size``) appended as rows ``first_row`` on; also those passages' own postings
    (rows from 0) and their first positions in ``tokens`` (as ``build_postings``)."""
    added, first_position = build_postings(tokens, offsets, vocabulary_size)
    old_ptr = np.empty(vocabulary_size + 1, np.int64)
    old_ptr[: len(old.ptr)] = old.ptr
    old_ptr[len(old.ptr) :] = old.ptr[-1]
    # Each added posting goes at the end of its term's list: its rows come after every old one.
    added_term = np.repeat(np.arange(vocabulary_size), np.diff(added.ptr))
    at = old_ptr[added_term + 1]
    shape_tf, shape_dl, pair = _pairs_with(old.shape_tf, old.shape_dl, added.shape_tf, added.shape_dl)
    postings = Postings(
        ptr=old_ptr + added.ptr,
        passage=np.insert(old.passage, at, added.passage + np.int32(first_row)),
        shape=np.insert(old.shape, at, pair[added.shape]),
        shape_tf=shape_tf,
        shape_dl=shape_dl,
    )
    return postings, added, first_position


def _pairs_with(tf: np.ndarray, dl: np.ndarray, new_tf: np.ndarray, new_dl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pair tables (tf, dl) with the pairs (new_tf, new_dl) they lack appended, and each new
    pair's number in them. Existing pairs keep their numbers (and their postings their shapes)."""
    keys = tf * _PAIR_STRIDE + dl
    new_keys = new_tf * _PAIR_STRIDE + new_dl
    sorter = np.argsort(keys)  # the pair tables: a few thousand entries, not one per posting
    at = np.minimum(np.searchsorted(keys, new_keys, sorter=sorter), max(len(keys) - 1, 0))
    known = keys[sorter[at]] == new_keys if len(keys) else np.zeros(len(new_keys), bool)
    number = np.empty(len(new_keys), np.int32)
    number[known] = sorter[at[known]]
    number[~known] = len(keys) + np.arange(int((~known).sum()), dtype=np.int32)
    return np.concatenate([tf, new_tf[~known]]), np.concatenate([dl, new_dl[~known]]), number


def appended_counts(counts: OwnerCounts, later: OwnerCounts) -> OwnerCounts:
    """``counts`` with ``later``, the counts of passages appended after all of them (so each of
    ``later``'s first positions comes after each of ``counts``'s). Only the owners ``later`` has
    change; the other owners' entries are copied."""
    owner_ids = np.union1d(counts.owner_ids, later.owner_ids).astype(np.int64)
    mine = np.searchsorted(owner_ids, counts.owner_ids)
    theirs = np.searchsorted(owner_ids, later.owner_ids)
    passages = np.zeros(len(owner_ids), np.int64)
    lengths = np.zeros(len(owner_ids), np.int64)
    entries = np.zeros(len(owner_ids), np.int64)
    for target, source in ((mine, counts), (theirs, later)):
        passages[target] += source.passages
        lengths[target] += source.lengths
    entries[mine] = np.diff(counts.ptr)
    df = counts.df.copy()
    insert_at, inserted, first_order, first_at = [], [], [], []
    inserted_so_far = 0
    for i, owner_id in enumerate(later.owner_ids.tolist()):
        theirs_span = slice(int(later.ptr[i]), int(later.ptr[i + 1]))
        at = int(np.searchsorted(counts.owner_ids, np.int64(owner_id)))
        lo = int(counts.ptr[at])
        hi = int(counts.ptr[at + 1]) if at < len(counts.owner_ids) and counts.owner_ids[at] == owner_id else lo
        terms = later.term[theirs_span]
        where = np.searchsorted(counts.term[lo:hi], terms)
        shared = where < hi - lo
        shared[shared] = counts.term[lo:hi][where[shared]] == terms[shared]
        df[lo + where[shared]] += later.df[theirs_span][shared]
        new = np.flatnonzero(~shared)
        insert_at.append(lo + where[new])
        inserted.append(theirs_span.start + new)
        entries[theirs[i]] += len(new)
        # The owner's new terms first occur after all its old ones: they follow them in by_first.
        local_order = later.by_first[theirs_span] - theirs_span.start
        rank = np.full(theirs_span.stop - theirs_span.start, -1, np.int64)
        rank[new] = inserted_so_far + np.arange(len(new))
        first_order.append(rank[local_order][~shared[local_order]])
        first_at.append(np.full(len(new), hi, np.int64))
        inserted_so_far += len(new)
    insert_at = np.concatenate(insert_at) if insert_at else np.zeros(0, np.int64)
    inserted = np.concatenate(inserted) if inserted else np.zeros(0, np.int64)
    # np.insert puts the k-th inserted entry (positions ascending) at insert_at[k] + k, and moves
    # an old entry e up by the insertions at or before it.
    new_number = insert_at + np.arange(len(insert_at))
    old_by_first = counts.by_first + np.searchsorted(insert_at, counts.by_first, side="right")
    ptr = np.zeros(len(owner_ids) + 1, np.int64)
    np.cumsum(entries, out=ptr[1:])
    return OwnerCounts(
        owner_ids=owner_ids,
        passages=passages,
        lengths=lengths,
        ptr=ptr,
        term=np.insert(counts.term, insert_at, later.term[inserted]),
        df=np.insert(df, insert_at, later.df[inserted]),
        first=np.insert(counts.first, insert_at, later.first[inserted]),
        by_first=np.insert(old_by_first, np.concatenate(first_at) if first_at else insert_at, new_number[np.concatenate(first_order)] if first_order else new_number),
    )
