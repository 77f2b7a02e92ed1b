"""The floor table's rows as data, no Textual: which agents are shown (the team and
exception filters), in which order (the sort column), and the cells last drawn for each.

At 20,000 agents a table widget that holds every agent as a row takes most of a minute to
build and re-renders all of it on a sort. Here the rows are a sorted list of agent ids; the
widget (`widgets.FloorTable`) draws only the rows on screen, asking this model which agent
is on row i and for its cells. A delta costs what it changed: `update` touches only the
agents it names (a filter test, a sort key, a bisect into the order); a new sort or filter
is one pass over the floor (`sort`, `rebuild`), done on a key press or, for a sort column
whose values move with the feed, at most every few seconds (the app decides).

Cells are made only for the rows that are drawn, and stamped with the widget's render
"generation" (the table's render caches are keyed on one: a reorder starts a new one and
drops every cached render): a row drawn again in a new generation has its cells made anew,
within one it is drawn from the cells kept. `redraw` (the rows on screen, after a delta, a
tick or a scroll) says exactly which cells changed since they were last drawn, so the widget
repaints just those."""
from __future__ import annotations

import bisect
from typing import Callable, Iterable, Iterator, Mapping

from dashboards.tui.formatting import COL_KEYS, SORT_GETTERS

Cells = tuple[tuple[str, str], ...]  # (text, style) per column, as formatting.agent_cells
# sort columns whose order moves only when an agent's roster fields do: kept sorted as the
# feed goes (a bisect per new agent); the others are re-sorted by the app now and then
STATIC_SORT = ("agent", "name", "team")


class FloorRows:
    """The shown agents in display order, their sort keys, and their drawn cells."""

    def __init__(self, sort_col: str = "agent", reverse: bool = False):
        self.sort_col = sort_col
        self.reverse = reverse
        # ascending by sort key whichever the direction: display order is this one read
        # backwards when reversed (keys end with the agent id, so there are no ties and the
        # reverse of ascending is exactly Python's sorted(..., reverse=True))
        self._asc: list[str] = []
        self._keys: dict[str, tuple] = {}  # shown agent -> its key as last placed
        self._pos: dict[str, int] | None = {}  # agent -> index in _asc (None: to recount)
        self.stale = False  # a live column's values changed since the last sort
        self.drawn: dict[str, tuple[int, Cells]] = {}  # agent -> (generation, cells)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._asc)

    def __getitem__(self, i: int) -> str:
        """The agent on display row `i`."""
        n = len(self._asc)
        if not 0 <= i < n:
            raise IndexError(i)
        return self._asc[n - 1 - i] if self.reverse else self._asc[i]

    def __iter__(self) -> Iterator[str]:
        return reversed(self._asc) if self.reverse else iter(self._asc)

    def __contains__(self, agent: object) -> bool:
        return agent in self._keys

    def _positions(self) -> dict[str, int]:
        if self._pos is None:  # recounted once after rows came or went, not per change
            self._pos = {a: i for i, a in enumerate(self._asc)}
        return self._pos

    def index(self, agent: str | None) -> int | None:
        """The display row of `agent`, None if it is not shown."""
        i = self._positions().get(agent)  # type: ignore[arg-type]
        if i is None:
            return None
        return len(self._asc) - 1 - i if self.reverse else i

    def window(self, top: int, height: int) -> list[str]:
        """The agents on display rows top .. top+height-1 (clipped to the rows there are)."""
        n = len(self._asc)
        lo, hi = max(0, top), min(n, top + max(0, height))
        if lo >= hi:
            return []
        if not self.reverse:
            return self._asc[lo:hi]
        return self._asc[n - hi:n - lo][::-1]

    # ------------------------------------------------------------------ order
    def key_fn(self, now: int | None) -> Callable[[str, dict], tuple]:
        """The sort key of (agent, entry): (rank, value, agent), flat so that sorting
        compares short tuples. None goes last whichever the direction (rank 1 ascending,
        0 descending: the order is read backwards), then the agent id, so no two agents
        tie; the order is `formatting.sort_value`'s with the id as the tie-break."""
        get = SORT_GETTERS[self.sort_col]
        none, some = (0, 1) if self.reverse else (1, 0)

        def key(a: str, e: dict) -> tuple:
            v = get(e, now)
            return (none, 0, a) if v is None else (some, v, a)
        return key

    def set_sort(self, col: str, reverse: bool) -> None:
        """A new sort column or direction; `sort` puts the rows in that order."""
        if (col, reverse) != (self.sort_col, self.reverse):
            self.sort_col, self.reverse = col, reverse
            self.stale = True

    def rebuild(self, agents: Mapping[str, dict], keep: Callable[[dict], bool],
                now: int | None) -> None:
        """The rows from scratch: every agent the filter keeps, sorted (one pass over the
        floor: after a snapshot or a filter change, never per delta)."""
        self._place(self._keys_of(((a, e) for a, e in agents.items() if keep(e)), now))

    def sort(self, agents: Mapping[str, dict], now: int | None) -> bool:
        """Re-sort the shown rows by their current values; True if the order changed."""
        entry = agents.get
        before, pos = self._asc, self._pos
        self._place(self._keys_of(((a, entry(a) or {}) for a in before), now))
        if self._asc == before:
            self._asc, self._pos = before, pos  # the same order: row indices still hold
            return False
        return True

    def _keys_of(self, pairs: Iterable[tuple[str, dict]], now: int | None) -> list[tuple]:
        """key_fn's keys of (agent, entry) pairs, made inline: one getter call per agent,
        not three calls (a pass over the whole floor)."""
        get = SORT_GETTERS[self.sort_col]
        none, some = (0, 1) if self.reverse else (1, 0)
        return [(none, 0, a) if (v := get(e, now)) is None else (some, v, a) for a, e in pairs]

    def _place(self, keys: list[tuple]) -> None:
        # the key tuples sorted as they are (their last item is the agent): no key function
        # call per comparison; 20,000 agents in ~20 ms here
        keys.sort()
        self._keys = {k[2]: k for k in keys}
        self._asc = [k[2] for k in keys]
        self._pos = None
        self.stale = False

    def update(self, agents: Mapping[str, dict], changed: Iterable[str],
               removed: Iterable[str], keep: Callable[[dict], bool],
               now: int | None) -> bool:
        """Apply a delta in O(changed): an agent the filter now keeps goes in at its place,
        one it no longer keeps (or that is gone) goes out; a shown agent whose sort key
        changed moves at once for a static column, or marks the order `stale` for a live
        one. True if rows came, went or moved (row indices changed)."""
        moved = False
        for a in removed:
            if a in self._keys:
                self._drop(a)
                moved = True
        static = self.sort_col in STATIC_SORT
        key = self.key_fn(now)
        for a in changed:
            e = agents.get(a)
            shown = a in self._keys
            if e is None or not keep(e):
                if shown:
                    self._drop(a)
                    moved = True
                continue
            k = key(a, e)
            if not shown:
                self._insert(a, k)
                moved = True
            elif k != self._keys[a]:
                if static:  # e.g. a renamed agent: to its new place now
                    self._drop(a)
                    self._insert(a, k)
                    moved = True
                else:  # a live column: rows would jump on every delta; sorted later
                    self.stale = True
        return moved

    # `_asc` is always in order of the stored keys (a live column's changed key is not
    # stored until the next sort), so an agent is found and placed by bisection: a delta
    # that adds or drops k agents costs k log n, not k passes over the floor
    def _insert(self, a: str, k: tuple) -> None:
        # in a stale order this is a near place; the next sort puts it right
        i = bisect.bisect_left(self._asc, k, key=self._keys.__getitem__)
        self._asc.insert(i, a)
        self._keys[a] = k
        self._pos = None

    def _drop(self, a: str) -> None:
        i = bisect.bisect_left(self._asc, self._keys[a], key=self._keys.__getitem__)
        del self._asc[i]
        del self._keys[a]
        self._pos = None
        self.drawn.pop(a, None)

    # ------------------------------------------------------------------ cells
    def cells(self, agent: str, fmt: Callable[[str], Cells], gen: int) -> Cells:
        """The cells to draw `agent` with in generation `gen`: those drawn before in it (the
        widget's cached renders are of those), else made now."""
        got = self.drawn.get(agent)
        if got is not None and got[0] == gen:
            return got[1]
        cells = fmt(agent)
        self.drawn[agent] = (gen, cells)
        return cells

    def redraw(self, agents: Iterable[str], fmt: Callable[[str], Cells], gen: int
               ) -> list[tuple[str, str]]:
        """Bring these agents' cells up to date; returns the (agent, column) cells whose text
        or style changed since they were last drawn (every cell of an agent with no cells
        kept): the renders to drop and the rows to repaint. Whatever the generation: a line
        drawn before the table's count moved can still be on screen (Textual keeps a
        widget's rendered lines until they are marked dirty)."""
        out: list[tuple[str, str]] = []
        drawn = self.drawn
        for a in agents:
            new = fmt(a)
            got = drawn.get(a)
            drawn[a] = (gen, new)
            if got is None:
                out.extend((a, c) for c in COL_KEYS)
            elif got[1] != new:
                out.extend((a, c) for c, o, n in zip(COL_KEYS, got[1], new) if o != n)
        if len(drawn) > 4096:
            # older generations' entries are never read again: keep memory to what is drawn
            self.drawn = {a: v for a, v in drawn.items() if v[0] == gen}
        return out
