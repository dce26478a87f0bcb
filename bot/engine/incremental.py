"""Adds and removes applied to an index's arrays in linear time, with no sort of every token.

A full build sorts every token (``build_postings``) and every posting (``OwnerCounts.count``):
seconds at 100k passages. A change touches a few passages, so ``PassageIndex.with_changes`` keeps
the arrays it has and edits them: the added passages' postings are built alone and put into each
term's list (passages appended at the end keep every list ascending), a removal filters the
removed passages' postings out and renumbers the remaining passages, and the counts per owner
change only for the owners whose passages changed. The cost is a few copies of the arrays.

The result is exactly what a fresh build over the same passages gives (tests/engine/
test_index_changes.py), term ids in order of first occurrence included, which rank_bm25's average
idf needs (bot/engine/bm25.py ``okapi_idf``): appended passages number their new terms after every
existing one; a removal drops the terms nobody has any more and moves those whose first
occurrence went with it. Only the numbering of (tf, length) pairs differs: a change appends the
pairs it brings, so existing postings keep theirs (each posting's tf and length are the same).

The old index's arrays are never written to: questions keep using it while a change is made,
and a change that fails leaves it as it was.
"""

from __future__ import annotations

import numpy as np

from bot.engine.bm25 import Postings, build_postings
from bot.engine.visible import OwnerCounts

# (tf, length) pairs are looked up by tf * _PAIR_STRIDE + length: lengths are below 2**32.
_PAIR_STRIDE = 1 << 32
# A removal looks for the new first occurrences in this many passages, then twice as many, ...
FIRST_SCAN_ROWS = 64


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
        passage=inserted(old.passage, at, added.passage + np.int32(first_row)),
        shape=inserted(old.shape, at, pair[added.shape]),
        shape_tf=shape_tf,
        shape_dl=shape_dl,
    )
    return postings, added, first_position


def inserted(array: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.insert(array, at, values)`` for ascending ``at``, by slice copies between the insertion
    points: np.insert's mask over every element took 0.17 s for 28 million postings, this 0.04 s."""
    out = np.empty(len(array) + len(values), array.dtype)
    out[at + np.arange(len(at))] = values
    points, before = np.unique(at, return_index=True)  # before: values inserted ahead of each point
    start = 0
    for point, shift in zip(points.tolist(), before.tolist()):
        out[start + shift : point + shift] = array[start:point]
        start = point
    out[start + len(at) :] = array[start:]
    return out


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
    # Per owner of ``later``: where its new entries go, which of later's entries they are, their
    # numbers (among all new entries) in order of first occurrence, and where they go in by_first.
    insert_at, new_entries, new_by_first, by_first_at = [], [], [], []
    new_so_far = 0
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
        new_entries.append(theirs_span.start + new)
        entries[theirs[i]] += len(new)
        # The owner's new terms first occur after all its old ones: they follow them in by_first.
        local_order = later.by_first[theirs_span] - theirs_span.start
        rank = np.full(theirs_span.stop - theirs_span.start, -1, np.int64)
        rank[new] = new_so_far + np.arange(len(new))
        new_by_first.append(rank[local_order][~shared[local_order]])
        by_first_at.append(np.full(len(new), hi, np.int64))
        new_so_far += len(new)
    none = [np.zeros(0, np.int64)]  # ``later`` may have no owners
    insert_at, new_entries = np.concatenate(none + insert_at), np.concatenate(none + new_entries)
    new_by_first, by_first_at = np.concatenate(none + new_by_first), np.concatenate(none + by_first_at)
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
        term=np.insert(counts.term, insert_at, later.term[new_entries]),
        df=np.insert(df, insert_at, later.df[new_entries]),
        first=np.insert(counts.first, insert_at, later.first[new_entries]),
        by_first=np.insert(old_by_first, by_first_at, new_number[new_by_first]),
    )


class Removal:
    """The arrays of an index without some of its passages (``keep``: the rows that stay).

    Linear in the arrays: the removed passages' tokens and postings are filtered out and the
    rest renumbered by a cumulative count. Only the owners that lost passages have their counts
    changed, and only terms whose first occurrence went with the removed passages are looked
    for again, in their owner's later passages.
    """

    def __init__(self, index, keep: np.ndarray) -> None:
        self.index, self.keep = index, keep
        doc_len = index.core.doc_len
        self.gone = np.flatnonzero(~keep)
        self.gone_start = index.offsets[self.gone]
        self.gone_end = self.gone_start + doc_len[self.gone]
        self.removed_before = np.zeros(len(self.gone) + 1, np.int64)  # tokens of the first k removed passages
        np.cumsum(doc_len[self.gone], out=self.removed_before[1:])
        self.tokens = index.tokens[np.repeat(keep, doc_len)]
        self.doc_len = doc_len[keep]
        self.offsets = np.zeros(len(self.doc_len) + 1, np.int64)
        np.cumsum(self.doc_len, out=self.offsets[1:])
        self._postings()
        self._counts()
        self._renumber_terms()

    def shifted(self, positions: np.ndarray) -> np.ndarray:
        """Token positions in kept passages, after the removed passages' tokens are gone."""
        return positions - self.removed_before[np.searchsorted(self.gone_start, positions, side="right")]

    def removed_position(self, positions: np.ndarray) -> np.ndarray:
        """Which token positions are in removed passages."""
        at = np.searchsorted(self.gone_start, positions, side="right") - 1
        inside = at >= 0
        inside[inside] = positions[inside] < self.gone_end[at[inside]]
        return inside

    def _postings(self) -> None:
        old = self.index.core.postings
        vocabulary_size = len(old.ptr) - 1
        kept = self.keep[old.passage]
        dropped = np.flatnonzero(~kept)
        self.dropped_term = np.searchsorted(old.ptr, dropped, side="right") - 1
        self.dropped_row = old.passage[dropped]
        lost = np.bincount(self.dropped_term, minlength=vocabulary_size)
        self.df = np.diff(old.ptr) - lost
        ptr = old.ptr.copy()
        ptr[1:] -= np.cumsum(lost)
        new_row = (np.cumsum(self.keep) - 1).astype(np.int32)
        self.postings = Postings(ptr, new_row[old.passage[kept]], old.shape[kept], old.shape_tf, old.shape_dl)
        # A term's first posting is its first passage: the term's first occurrence went with it.
        has = np.diff(old.ptr) > 0
        self.moved = np.zeros(vocabulary_size, bool)
        self.moved[has] = ~self.keep[old.passage[old.ptr[:-1][has]]]
        self.moved &= self.df > 0

    def _counts(self) -> None:
        index, counts = self.index, self.index.owners
        guild_ids = index.guild_ids
        df = counts.df.copy()
        passages, lengths = counts.passages.copy(), counts.lengths.copy()
        first = counts.first.copy()
        lost_first = self.removed_position(first)
        first[~lost_first] = self.shifted(first[~lost_first])
        refound = np.zeros(len(df), bool)
        dropped_owner = guild_ids[self.dropped_row]
        for owner_id in np.unique(guild_ids[self.gone]).tolist():
            at = counts._position(owner_id)
            lo, hi = int(counts.ptr[at]), int(counts.ptr[at + 1])
            gone = self.gone[guild_ids[self.gone] == owner_id]
            passages[at] -= len(gone)
            lengths[at] -= int(index.core.doc_len[gone].sum())
            terms, lost = np.unique(self.dropped_term[dropped_owner == owner_id], return_counts=True)
            df[lo + np.searchsorted(counts.term[lo:hi], terms)] -= lost
            # Terms the owner still has whose first occurrence in its passages was removed.
            again = lo + np.flatnonzero(lost_first[lo:hi] & (df[lo:hi] > 0))
            if len(again):
                first[again] = self.shifted(self._first_occurrences(owner_id, counts.term[again], int(gone[0])))
                refound[again] = True
        kept = df > 0
        owners = len(counts.owner_ids)
        owner_of_entry = np.repeat(np.arange(owners), np.diff(counts.ptr))
        # Each owner's order of first occurrence: the entries that keep theirs stay in order, the
        # ones found again go in where their new first occurrences fall.
        staying = kept & ~refound
        order = counts.by_first[staying[counts.by_first]]
        block = np.zeros(owners + 1, np.int64)  # each owner's entries in ``order``
        np.cumsum(np.bincount(owner_of_entry[staying], minlength=owners), out=block[1:])
        insert_at, refound_entries = [], []
        for owner_at in np.unique(owner_of_entry[refound]).tolist():
            lo, hi = int(counts.ptr[owner_at]), int(counts.ptr[owner_at + 1])
            again = lo + np.flatnonzero(refound[lo:hi])
            again = again[np.argsort(first[again], kind="stable")]
            staying_first = first[order[block[owner_at] : block[owner_at + 1]]]
            insert_at.append(block[owner_at] + np.searchsorted(staying_first, first[again]))
            refound_entries.append(again)
        if insert_at:
            order = np.insert(order, np.concatenate(insert_at), np.concatenate(refound_entries))
        number = np.cumsum(kept) - 1
        entries = np.bincount(owner_of_entry[kept], minlength=owners)
        present = passages > 0
        ptr = np.zeros(int(present.sum()) + 1, np.int64)
        np.cumsum(entries[present], out=ptr[1:])
        self.counts = OwnerCounts(
            owner_ids=counts.owner_ids[present],
            passages=passages[present],
            lengths=lengths[present],
            ptr=ptr,
            term=counts.term[kept],
            df=df[kept],
            first=first[kept],
            by_first=number[order],
        )

    def _first_occurrences(self, owner_id: int, terms: np.ndarray, after_row: int) -> np.ndarray:
        """Each term's first position in the owner's kept passages after row ``after_row``: a
        scan of those passages in growing chunks, stopping when every term is found."""
        index = self.index
        rows = np.flatnonzero(self.keep & (index.guild_ids == owner_id))
        rows = rows[rows > after_row]
        wanted = np.zeros(len(index.vocabulary), bool)
        wanted[terms] = True
        found = np.full(len(index.vocabulary), -1, np.int64)
        missing, at, chunk = len(terms), 0, FIRST_SCAN_ROWS
        while missing and at < len(rows):
            block = rows[at : at + chunk]
            at, chunk = at + chunk, chunk * 2
            lengths = index.core.doc_len[block]
            positions = np.repeat(index.offsets[block] - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
            tokens = index.tokens[positions]
            hit = wanted[tokens]
            seen, first = np.unique(tokens[hit], return_index=True)
            found[seen] = positions[hit][first]
            wanted[seen] = False
            missing -= len(seen)
        return found[terms]

    def _renumber_terms(self) -> None:
        """Term ids in order of first occurrence again: drop unused terms, move the moved ones."""
        counts, postings, df = self.counts, self.postings, self.df
        vocabulary = self.index.vocabulary
        used = df > 0
        if used.all() and not self.moved.any():
            self.vocabulary, self.term_ids = vocabulary, self.index.term_ids
            return
        global_first = np.full(len(df), np.iinfo(np.int64).max)
        np.minimum.at(global_first, counts.term, counts.first)
        stay = np.flatnonzero(used & ~self.moved)  # their order does not change
        moved = np.flatnonzero(self.moved)
        moved = moved[np.argsort(global_first[moved], kind="stable")]
        order = np.insert(stay, np.searchsorted(global_first[stay], global_first[moved]), moved)
        new_id = np.full(len(df), -1, np.int32)
        new_id[order] = np.arange(len(order), dtype=np.int32)
        self.tokens = new_id[self.tokens]
        self.vocabulary = [vocabulary[i] for i in order.tolist()]
        self.term_ids = {term: i for i, term in enumerate(self.vocabulary)}
        self.postings = _reordered(postings, order)
        self.counts = _renumbered(counts, new_id, self.moved)


def _reordered(postings: Postings, order: np.ndarray) -> Postings:
    """The postings with term ``order[i]``'s list as term i's (each term used once)."""
    starts = postings.ptr[order]
    lengths = postings.ptr[order + 1] - starts
    ptr = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lengths, out=ptr[1:])
    passage, shape = np.empty_like(postings.passage), np.empty_like(postings.shape)
    # Terms that stay in order keep their lists side by side: copy runs of them, not term by term.
    breaks = np.flatnonzero(starts[1:] != starts[:-1] + lengths[:-1]) + 1
    runs = zip([0, *breaks.tolist()], [*breaks.tolist(), len(order)]) if len(order) else ()
    for first, last in runs:
        source = slice(int(starts[first]), int(starts[last - 1] + lengths[last - 1]))
        target = slice(int(ptr[first]), int(ptr[last]))
        passage[target], shape[target] = postings.passage[source], postings.shape[source]
    return Postings(ptr, passage, shape, postings.shape_tf, postings.shape_dl)


def _renumbered(counts: OwnerCounts, new_id: np.ndarray, moved: np.ndarray) -> OwnerCounts:
    """The counts with terms renumbered by ``new_id``, each owner's entries ascending again: only
    the entries of ``moved`` terms change places (the others' order is kept by the renumbering)."""
    term = new_id[counts.term]
    is_moved = moved[counts.term]
    if not is_moved.any():
        return OwnerCounts(counts.owner_ids, counts.passages, counts.lengths, counts.ptr, term, counts.df, counts.first, counts.by_first)
    owner = np.repeat(np.arange(len(counts.owner_ids), dtype=np.int64), np.diff(counts.ptr))
    key = owner * (int(new_id.max()) + 1) + term
    stay, go = np.flatnonzero(~is_moved), np.flatnonzero(is_moved)
    go = go[np.argsort(key[go], kind="stable")]
    at = np.searchsorted(key[stay], key[go])
    position = np.empty(len(term), np.int64)
    position[stay] = np.arange(len(stay)) + np.searchsorted(at, np.arange(len(stay)), side="right")
    position[go] = at + np.arange(len(go))
    entries = np.empty(len(term), np.int64)
    entries[position] = np.arange(len(term))  # the entry at each new place
    return OwnerCounts(
        counts.owner_ids, counts.passages, counts.lengths, counts.ptr,
        term[entries], counts.df[entries], counts.first[entries], position[counts.by_first],
    )
