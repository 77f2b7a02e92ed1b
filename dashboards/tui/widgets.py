"""The floor table widget: a DataTable that holds no rows, only a view of the row model."""
from __future__ import annotations

from typing import Callable, Iterator

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, Row, RowKey, StringKey

from dashboards.tui.formatting import COL_KEYS, COLUMNS
from dashboards.tui.rowmodel import Cells, FloorRows

_JUSTIFY = {key: justify for key, _, justify in COLUMNS}
_INDEX = {key: i for i, key in enumerate(COL_KEYS)}


def _val(key) -> str | None:
    return key.value if isinstance(key, StringKey) else key


class _Locations:
    """Stands in for DataTable's row key <-> index map: the model's order."""

    def __init__(self, model: FloorRows):
        self.model = model

    def get(self, key, default=None):
        i = self.model.index(_val(key))
        return default if i is None else i

    def get_key(self, index: int) -> RowKey | None:
        m = self.model
        return RowKey(m[index]) if 0 <= index < len(m) else None

    def __contains__(self, key) -> bool:
        return _val(key) in self.model

    def __len__(self) -> int:
        return len(self.model)

    def __iter__(self) -> Iterator[RowKey]:
        return (RowKey(a) for a in self.model)


class _Rows(_Locations):
    """Stands in for DataTable.rows (row key -> Row): every row one line, no label."""

    def __getitem__(self, key) -> Row:
        if key not in self:
            raise KeyError(key)
        return Row(key if isinstance(key, RowKey) else RowKey(key), 1)

    def get(self, key, default=None):  # type: ignore[override]
        return self[key] if key in self else default

    def keys(self):
        return iter(self)

    def values(self):
        return (Row(k, 1) for k in self)

    def clear(self) -> None:  # the model's rows are the app's to change
        pass


class _Data(_Locations):
    """Stands in for DataTable._data (row key -> column key -> cell), made from the model's
    cells for the rows actually drawn."""

    def __init__(self, model: FloorRows, table: "FloorTable"):
        super().__init__(model)
        self.table = table

    def __getitem__(self, key) -> dict[ColumnKey, object]:
        a = _val(key)
        if a not in self.model:
            raise KeyError(key)
        return self.table.renderables(a)

    def get(self, key, default=None):  # type: ignore[override]
        return self[key] if key in self else default

    def clear(self) -> None:
        pass


class _Offsets:
    """Stands in for DataTable._y_offsets (line -> (row key, line in row)): one line a row."""

    def __init__(self, model: FloorRows):
        self.model = model

    def __len__(self) -> int:
        return len(self.model)

    def __getitem__(self, y: int) -> tuple[RowKey, int]:
        return RowKey(self.model[y]), 0

    def clear(self) -> None:
        pass


class _ComponentStyles:
    """A component's styles with their rich style worked out once (DataTable asks for the
    header's, the fixed columns' and the row's on every row it draws, and each walks the
    widget's ancestors); everything else is the styles' own."""

    __slots__ = ("_styles", "rich_style")

    def __init__(self, styles):
        self._styles = styles
        self.rich_style = styles.rich_style

    def __getattr__(self, name):
        return getattr(self._styles, name)


class _OrderedRows(_Locations):
    """Stands in for DataTable.ordered_rows: rows made only for the slice asked for (its
    fixed-offset and page code slice it; a list of 20,000 would be made on each call)."""

    def __getitem__(self, i):
        m = self.model
        if isinstance(i, slice):
            return [Row(RowKey(m[k]), 1) for k in range(*i.indices(len(m)))]
        if i < 0:
            i += len(m)
        return Row(RowKey(m[i]), 1)


class FloorTable(DataTable):
    """The floor table, virtual: its rows are a `FloorRows` model's order and its cells are
    made by `cells_of(agent)` only for the rows it draws, so at 20,000 agents it holds
    nothing per agent and opens, sorts and filters at the cost of the screen, not the floor.

    Everything else is DataTable's own: the look (the snapshot tests pin it), the cursor and
    its keys, scrolling, header clicks (`HeaderSelected`) and `RowSelected` with the agent id
    as the row key. DataTable's row storage is replaced by views of the model (`_Rows`,
    `_Data`, `_Locations`, `_Offsets`) and the few places that walked every row are O(1)
    here (every row is one line). Its render caches are keyed on `_update_count`: a change of
    order (`rows_moved`) starts a new count, which drops every cached render; a change of
    cells (`repaint`) drops only those rows' assembled lines (a cell's render is keyed on its
    text and style) and repaints them."""

    _CACHES = ("_cell_render_cache", "_row_render_cache", "_line_cache",
               "_row_renderable_cache", "_update_count", "_offset_cache",
               "_ordered_row_cache", "_row_locations", "_data")

    def __init__(self, *args, **kwargs):
        self.model = FloorRows()  # first: DataTable's __init__ already reads the rows
        self._component_cache: dict[tuple, _ComponentStyles] = {}
        self._combos: dict[tuple, Style | None] = {}
        super().__init__(*args, **kwargs)
        self._styles: dict[str, Style] = {}
        self.cells_of: Callable[[str], Cells] = lambda a: ((a, ""),) + (("", ""),) * (
            len(COL_KEYS) - 1)
        self._install()

    def _install(self) -> None:
        self.rows = _Rows(self.model)  # type: ignore[assignment]
        self._data = _Data(self.model, self)  # type: ignore[assignment]
        self._row_locations = _Locations(self.model)  # type: ignore[assignment]

    def targeted(self) -> bool:
        """This Textual's DataTable has the internals the virtual rows stand in for."""
        return all(hasattr(self, a) for a in self._CACHES)

    def bind(self, model: FloorRows, cells_of: Callable[[str], Cells]) -> None:
        """Show `model`'s rows, each agent's cells made by `cells_of`."""
        self.model = model
        self.cells_of = cells_of
        self._install()
        self.rows_moved()

    # ------------------------------------------------------------------ the model's view
    @property
    def row_count(self) -> int:
        return len(self.model)

    @property
    def _y_offsets(self) -> _Offsets:  # type: ignore[override]
        return _Offsets(self.model)

    @property
    def _total_row_height(self) -> int:
        return len(self.model)

    @property
    def ordered_rows(self) -> _OrderedRows:  # type: ignore[override]
        return _OrderedRows(self.model)

    def renderables(self, agent: str) -> dict[ColumnKey, object]:
        cells = self.model.cells(agent, self.cells_of, self._update_count)
        return {ColumnKey(k): self.cell(k, v) for k, v in zip(COL_KEYS, cells)}

    @staticmethod
    def cell(key: str, value: tuple[str, str]):
        if key == "agent":
            return value[0]  # plain, as a DataTable row key cell
        # cropped, not "…": that is East-Asian ambiguous width and can shift CJK columns
        return Text(value[0], style=value[1], justify=_JUSTIFY[key], no_wrap=True,
                    overflow="crop")

    def window(self, margin: int = 1) -> tuple[int, int]:
        """The display rows on screen (top, height), `margin` more each side."""
        top = int(self.scroll_y)
        return top - margin, self.size.height + 2 * margin

    # ------------------------------------------------------------------ changes
    def rows_moved(self) -> None:
        """Rows came, went or changed places: a new render generation (every cached render
        is of the old order) and the scrollable size of the new row count."""
        self._update_count += 1
        self._update_dimensions(())
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows there are
        self.refresh()

    def repaint(self, cells: list[tuple[str, str]]) -> None:
        """These (agent, column) cells were redrawn: drop their rows' cached renders and
        repaint them if on screen; the other cells of those rows come from the cell cache
        (DataTable's own `update_cell` would bump the table-wide count and re-render every
        cell on screen)."""
        if not cells:
            return
        rows = {RowKey(a) for a, _ in cells}
        idx = {i for i in (self.model.index(rk.value) for rk in rows) if i is not None}
        header = 1 if self.show_header else 0
        ys = {i + header for i in idx}
        # the cell renders are keyed on the cells' contents (`_render_cell`): nothing to drop
        rc = self._row_render_cache
        for k in [k for k in rc.keys() if k[0] in rows]:
            rc.discard(k)
        lc = self._line_cache
        for k in [k for k in lc.keys() if k[0] in ys]:
            lc.discard(k)
        for i in idx:
            self._row_renderable_cache.discard((self._update_count, i))
        top, height = self.window()
        for i in idx:
            if top <= i < top + height:
                self.refresh_row(i)

    # ------------------------------------------------------------------ one cell, fast
    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False):
        """DataTable's `_render_cell` for a floor cell, the same segments without the trip
        through rich's console (Styled(Padding(Text)) rendered line by line): a screen of
        new rows (a page down, a sort) is some 800 cells, and that trip made it ~100-180 ms
        on this machine. Our cells are one line of text in one style, cropped, justified
        left or right (the agent id: a plain string, as DataTable formats one); anything
        else (the header, a string that may be markup) goes DataTable's way. Checked
        against DataTable's own rendering by tests/tui/test_tui_big_floor.py."""
        if row_index < 0 or column_index < 0 or row_index < self.fixed_rows:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        col = column_key.value
        cells = self.model.cells(row_key.value, self.cells_of, self._update_count)
        value = cells[_INDEX[col]]
        # keyed on the cell's text and style as well: a changed cell misses by itself, and
        # `repaint` need not look through this cache (10,000 entries) on every change
        cache_key = (row_key, column_key, value, base_style, cursor, hover,
                     self._show_hover_cursor, self._update_count, self._pseudo_class_state)
        cache = self._cell_render_cache
        if cache_key in cache:
            return cache[cache_key]
        text, style = value
        justify = _JUSTIFY[col]
        if col == "agent" and ("[" in text or "\n" in text or "\t" in text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, column_index < self.fixed_columns, hover, cursor, self.show_cursor,
            self._show_hover_cursor, self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css")
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        edge = self._pad_style  # Padding's own style ("none")
        if col == "agent":  # DataTable's formatter: Text(no_wrap), default justify
            if cell_len(text) > inner:
                text = set_cell_size(text, inner)
            body = [Segment(text)]
            if cell_len(text) < inner:
                body.append(Segment(" " * (inner - cell_len(text)), edge))
        else:
            if justify == "right":
                text = text.rstrip()
            if cell_len(text) > inner:  # overflow="crop"
                text = set_cell_size(text, inner)
            fill = " " * (inner - cell_len(text))
            text = fill + text if justify == "right" else text + fill
            body = [Segment(text, self._style_of(style)) if style else Segment(text)]
        # DataTable's styles are base + meta(row, column) + component, then per segment
        # (that + own) + post (Segment.apply_style under Styled). The meta (for clicks) sets
        # no colour or attribute, so adding it last gives the same style; without it the
        # rest is one of a few combinations, kept, instead of ~8 additions of a
        # one-of-a-kind style per cell
        meta = Style.from_meta({"row": row_index, "column": column_index})
        combos = self._combos
        post = post_style or None
        out = []
        for seg in ([Segment(" " * pad, edge), *body, Segment(" " * pad, edge)] if pad
                    else body):
            ck = (base_style, component_style, seg.style, post)
            st = combos.get(ck)
            if st is None:
                pre = base_style + component_style
                st = pre + seg.style if pre else seg.style
                if post:
                    st = st + post if st else post
                if len(combos) > 4096:
                    combos.clear()
                combos[ck] = st
            out.append(Segment(seg.text, st + meta if st is not None else meta))
        lines = [out]
        cache[cache_key] = lines
        return lines

    def get_component_styles(self, *names: str):
        key = (names, self._pseudo_class_state)
        got = self._component_cache.get(key)
        if got is None:
            got = self._component_cache[key] = _ComponentStyles(
                super().get_component_styles(*names))
        return got

    def notify_style_update(self) -> None:
        self._component_cache = {}  # before DataTable's: it repaints with them
        self._combos = {}
        super().notify_style_update()

    def _style_of(self, name: str) -> Style:
        got = self._styles.get(name)
        if got is None:
            got = self._styles[name] = self.app.console.get_style(name)
        return got

    @property
    def _pad_style(self) -> Style:
        return self._style_of("none")

    # ------------------------------------------------------------------ DataTable's walks
    def _update_dimensions(self, new_rows) -> None:
        # every column has a set width and every row one line: nothing to measure
        width = sum(c.get_render_width(self) for c in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width,
                                 len(self.model) + header)

    def _row_y(self, row_index: int) -> int:
        return row_index + (self.header_height if self.show_header else 0)

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = (sum(c.get_render_width(self) for c in self.columns.values())
                 + self._row_label_column_width)
        return Region(0, self._row_y(row_index), max(self.size.width, width), 1)

    def _get_cell_region(self, coordinate) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        cols = self.ordered_columns
        x = sum(c.get_render_width(self) for c in cols[:column_index])
        return Region(x + self._row_label_column_width, self._row_y(row_index),
                      cols[column_index].get_render_width(self), 1)

    def _page_rows(self) -> int:
        return self.scrollable_content_region.height - (
            self.header_height if self.show_header else 0)

    def action_page_down(self) -> None:
        # DataTable's: a page of one-line rows, without walking them
        self._set_hover_cursor(False)
        height = self._page_rows()
        self.scroll_relative(y=height, animate=False, force=True)
        self.move_cursor(row=min(self.cursor_row + height, self.row_count - 1), scroll=False)

    def action_page_up(self) -> None:
        self._set_hover_cursor(False)
        height = self._page_rows()
        self.scroll_relative(y=-height, animate=False)
        self.move_cursor(row=max(self.cursor_row - height, 0), scroll=False)

    def clear(self, columns: bool = False):
        """The rows are the model's: clearing the table only starts the view at the top."""
        self.rows_moved()
        self.move_cursor(row=0, animate=False)
        self.scroll_to(y=0, animate=False)
        return self

    def add_row(self, *cells, **kw):
        raise TypeError("FloorTable's rows are its model's (FloorRows), not added")

    def remove_row(self, row_key) -> None:
        raise TypeError("FloorTable's rows are its model's (FloorRows), not removed")

    def sort(self, *columns, key=None, reverse: bool = False):
        raise TypeError("FloorTable's order is its model's (FloorRows.sort)")

    def update_cell(self, *a, **kw) -> None:
        raise TypeError("FloorTable's cells are made by cells_of and repainted by repaint")

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            refresh = getattr(self.app, "refresh_visible", None)
            if refresh is not None:
                refresh()  # before the next frame: rows coming into view are brought up to date
