"""The floor table widget."""
from __future__ import annotations

from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey


class FloorTable(DataTable):
    """The floor table. `set_cells` writes a batch of cells and repaints only those: Textual's
    own `update_cell` bumps one table-wide counter that every render cache is keyed on, so
    each call re-renders every cell on screen (at 200x60 some 800 cells, ~170 ms). Here the
    changed cells' cache entries are dropped and only their rows are refreshed; the other
    cells come from the caches. Falls back to `update_cell` if this Textual's DataTable does
    not have the caches this relies on (checked by tests/tui/test_tui_app.py)."""

    _CACHES = ("_cell_render_cache", "_row_render_cache", "_line_cache",
               "_row_renderable_cache", "_data", "_row_locations", "_update_count")

    def targeted(self) -> bool:
        return all(hasattr(self, a) for a in self._CACHES)

    def set_cells(self, cells: list[tuple[str, str, object]]) -> None:
        """Write (row key, column key, value) cells; repaint just the rows they are in."""
        if not cells:
            return
        if not self.targeted():
            for rk, ck, v in cells:
                self.update_cell(rk, ck, v)
            return
        changed: set[tuple[RowKey, ColumnKey]] = set()
        rows: set[RowKey] = set()
        for rk, ck, v in cells:
            rkey, ckey = RowKey(rk), ColumnKey(ck)
            self._data[rkey][ckey] = v
            changed.add((rkey, ckey))
            rows.add(rkey)
        idx = {self._row_locations.get(r) for r in rows}
        header = 1 if self.show_header else 0
        ys = {i + header for i in idx}
        cc = self._cell_render_cache
        for k in [k for k in cc.keys() if (k[0], k[1]) in changed]:
            cc.discard(k)
        rc = self._row_render_cache
        for k in [k for k in rc.keys() if k[0] in rows]:
            rc.discard(k)
        lc = self._line_cache
        for k in [k for k in lc.keys() if k[0] in ys]:
            lc.discard(k)
        for i in idx:
            self._row_renderable_cache.discard((self._update_count, i))
        top = int(self.scroll_y)
        bottom = top + self.size.height
        for i in idx:
            if top - 1 <= i <= bottom:
                self.refresh_row(i)

    def _update_dimensions(self, new_rows) -> None:
        # every column has a set width and every row one line: measuring each cell of each
        # new row (28,000 for 2,000 agents) would change nothing; the virtual size is still
        # recomputed by the base class
        if self.targeted() and not any(c.auto_width for c in self.columns.values()):
            new_rows = ()
        super()._update_dimensions(new_rows)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            refresh = getattr(self.app, "refresh_visible", None)
            if refresh is not None:
                refresh()  # before the next frame: rows coming into view are brought up to date
