"""The merge loop that YouTokenToMe and HF tokenizers both run on one word (docs/tokenizer.md §7).

Symbols are ids in a linked list. A heap holds (rank, position) of every adjacent pair that has a
merge; the smallest rank pops first, ties by the leftmost position. A popped entry whose pair no
longer stands there is skipped; otherwise the pair becomes the merge's result and the pairs it forms
with its new neighbours are pushed. The two upstreams differ only in how they recognise a stale
entry (`same`, below), which matters only for merges that share a result id.
"""
import heapq


def merge_word(ids, lookup, same_rule):
    """ids: the word's start ids. lookup(a, b) -> (rank, result id) or None. same_rule(entry_rank,
    entry_result, a, b) -> whether a popped entry still applies to the pair (a, b) now at its place.
    Returns the merged ids."""
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
        if not same_rule(rank, result, tok[p], tok[q]):
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
