"""The merge loop that YouTokenToMe and HF tokenizers both run on one word (docs/tokenizer.md §7).

Symbols are ids in a linked list. A heap holds (rank, position) of every adjacent pair that has a
merge; the smallest rank pops first, ties by the leftmost position. A popped entry whose pair no
longer stands there is skipped; otherwise the pair becomes the merge's result and the pairs it forms
with its new neighbours are pushed. YouTokenToMe tells a stale entry by its rule, HF tokenizers by
its result id; with unique pairs and results that are the joined strings (both readers check that)
the two tests agree, so one test (the rank) serves both.
"""
import heapq


def merge_word(ids, lookup):
    """ids: the word's start ids; lookup(a, b) -> (rank, result id) or None. Returns the merged ids."""
    n = len(ids)
    tok = list(ids)
    nxt = list(range(1, n)) + [-1]
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = []

    def push(p):
        q = nxt[p]
        if q != -1:
            m = lookup(tok[p], tok[q])
            if m is not None:
                heapq.heappush(heap, (m[0], p, m[1]))

    for p in range(n - 1):
        push(p)
    while heap:
        rank, p, result = heapq.heappop(heap)
        if not alive[p] or nxt[p] == -1:
            continue
        q = nxt[p]
        m = lookup(tok[p], tok[q])
        if m is None or m[0] != rank:  # stale
            continue
        tok[p] = result
        alive[q] = False
        nxt[p] = nxt[q]
        if nxt[q] != -1:
            prv[nxt[q]] = p
        if prv[p] != -1:
            push(prv[p])
        push(p)
    return [tok[p] for p in range(n) if alive[p]]
