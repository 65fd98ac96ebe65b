"""Import historical cases from CSV files, described by a YAML column mapping.

Imported cases are written in bulk — one transaction per batch of rows, multi-row inserts
(SQLite) or ``executemany`` (PostgreSQL) for the cases, their audit events and their
``resolution`` clock rows — not through :meth:`~casework.Engine.intake` and
:meth:`~casework.Engine.fire` per row, which would cost a transaction and the whole deadline
machinery per case. Unless casework runs on a host's ``Connection``, a writer thread writes
each batch while the calling thread parses the next. The rows written are what the engine would
hold for such a case:

* a ``cases`` row in the workflow's initial state, or in the mapping's ``closed_state`` (or the
  final state a status value names) when the record is closed, pinned to the workflow version in
  force on the local receipt date;
* an ``opened`` event and, for a closed case, an ``imported`` event moving it to its final state
  at its real closing time, hash-chained with :func:`casework.audit.event_hash`, so
  ``casework audit verify`` passes on imported data;
* one ``deadlines`` row for clock ``resolution`` when the record has a target time: ``met`` when
  closed at or before the target, ``breached`` when closed after it or still open with the
  target at or before the import's *as-of* instant, ``running`` otherwise. These rows carry no
  ``fire_at``: the deadline worker never acts on imported clocks.

Re-running an import writes nothing twice: rows whose ``(channel, external_id)`` already exists
are skipped (the unique index on the key finds them). Bad rows are reported with their line
number and skipped; the rest of the batch is written. The mapping format is documented in
``docs/import.md``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import itertools
import json
import logging
import operator
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import sqlalchemy as sa
import yaml

from casework.audit import GENESIS
from casework.clock import ensure_aware
from casework.errors import DefinitionError, Problem, WorkflowNotFound
from casework.store import queries as q

if TYPE_CHECKING:
    from casework.engine import Engine
    from casework.spec import WorkflowSpec

__all__ = [
    "BadRow",
    "ImportMapping",
    "ImportReport",
    "ValueMap",
    "import_csv",
    "load_mapping",
    "parse_mapping",
]

log = logging.getLogger("casework.importing")

UTC = dt.UTC
IMPORT_ACTOR = "import"
IMPORT_ROLES = ("system",)
RESOLUTION_CLOCK = "resolution"
BATCH_SIZE = 10_000
MAX_BAD_ROWS_KEPT = 1000

# Fields a column can fill directly, with the longest text the store accepts.
TEXT_FIELDS: dict[str, int] = {
    "summary": 10_000,
    "description": 100_000,
    "respondent": 300,
    "product": 300,
    "department": 100,
    "complainant_name": 200,
    "complainant_contact": 200,
    "remedy": 10_000,
}
TIME_FIELDS = ("received_at", "closed_at", "due_at")
SIMPLE_FIELDS = ("external_id", *TIME_FIELDS, "amount", *TEXT_FIELDS)
MAPPED_FIELDS = ("channel", "category", "status")
OPEN = "open"
CLOSED = "closed"

ClosedBeforeReceived = Literal["reject", "clamp", "keep"]
BeforeFirstVersion = Literal["earliest", "reject"]


# ---------------------------------------------------------------------------- the mapping


@attrs.frozen
class ValueMap:
    """How one column's raw text becomes a value: exact ``values`` first (compared after
    trimming, case-insensitively), then the first ``match`` rule one of whose words the text
    contains (case-insensitive), then ``default``. ``None`` when nothing applies."""

    column: str | None
    values: Mapping[str, str] = attrs.field(factory=dict)
    match: tuple[tuple[tuple[str, ...], str], ...] = ()
    default: str | None = None

    def outputs(self) -> set[str]:
        out = set(self.values.values()) | {v for _, v in self.match}
        if self.default is not None:
            out.add(self.default)
        return out

    def lookup(self, raw: str) -> str | None:
        key = raw.strip().casefold()
        if not key:
            return self.default
        found = self._exact.get(key)
        if found is not None:
            return found
        for words, value in self.match:
            if any(w in key for w in words):
                return value
        return self.default

    @functools.cached_property
    def _exact(self) -> dict[str, str]:
        return {k.strip().casefold(): v for k, v in self.values.items()}


@attrs.frozen
class ImportMapping:
    """A parsed mapping file (see ``docs/import.md``)."""

    workflow: str
    columns: Mapping[str, str]
    channel: ValueMap
    category: ValueMap | None = None
    status: ValueMap | None = None
    data: Mapping[str, str] = attrs.field(factory=dict)
    timezone: str = "UTC"
    time_formats: tuple[str, ...] = ("iso",)
    closed_state: str = "archived"
    as_of: dt.datetime | None = None
    source: str | None = None
    skip_until_header: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    closed_before_received: ClosedBeforeReceived = "reject"
    before_first_version: BeforeFirstVersion = "earliest"
    path: str = "<mapping>"

    def required_columns(self) -> list[tuple[str, str]]:
        """``(where in the mapping, column name)`` for every column the mapping reads."""
        out = [(f"columns.{k}", v) for k, v in self.columns.items()]
        for name in MAPPED_FIELDS:
            vm: ValueMap | None = getattr(self, name)
            if vm is not None and vm.column is not None:
                out.append((f"columns.{name}.column", vm.column))
        out += [(f"data.{k}", v) for k, v in self.data.items()]
        return out


class _Checker:
    """Collects every problem of a mapping file with its line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, node: yaml.Node | None = None) -> None:
        line = int(node.start_mark.line) + 1 if node is not None else None
        self.problems.append(Problem(path, message, line, self.source))

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.add(path, "expected a mapping", node)
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            out[str(k.value)] = (k, v)
        return out

    def text(self, node: yaml.Node, path: str, *, allow_null: bool = False) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            if node.tag.endswith(":null") and allow_null:
                return None
            if not node.tag.endswith(":null"):
                return str(node.value)
        self.add(path, "expected text", node)
        return None

    def unknown(
        self, found: Mapping[str, tuple[yaml.Node, yaml.Node]], allowed: Sequence[str], path: str
    ) -> None:
        import difflib

        for key, (knode, _) in found.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.add(
                    f"{path}{key}" if not path else f"{path}.{key}",
                    f"unknown key{hint}; allowed: {', '.join(allowed)}",
                    knode,
                )


_TOP_KEYS = (
    "workflow",
    "source",
    "timezone",
    "time_format",
    "closed_state",
    "as_of",
    "skip_until_header",
    "delimiter",
    "encoding",
    "columns",
    "data",
    "bad_rows",
)
_BAD_ROW_KEYS = ("closed_before_received", "before_first_version")
_VALUE_MAP_KEYS = ("column", "values", "match", "default")


def _value_map(c: _Checker, node: yaml.Node, path: str) -> ValueMap | None:
    if isinstance(node, yaml.ScalarNode):
        column = c.text(node, path)
        return None if column is None else ValueMap(column)
    m = c.mapping(node, path)
    if m is None:
        return None
    c.unknown(m, _VALUE_MAP_KEYS, path)
    column = c.text(m["column"][1], f"{path}.column") if "column" in m else None
    values: dict[str, str] = {}
    if "values" in m:
        vm = c.mapping(m["values"][1], f"{path}.values")
        for key, (_, vnode) in (vm or {}).items():
            v = c.text(vnode, f"{path}.values.{key}")
            if v is not None:
                values[key] = v
    rules: list[tuple[tuple[str, ...], str]] = []
    if "match" in m:
        seq = m["match"][1]
        if not isinstance(seq, yaml.SequenceNode):
            c.add(f"{path}.match", "expected a list of {contains: [...], value: ...}", seq)
        else:
            for i, item in enumerate(seq.value):
                where = f"{path}.match[{i}]"
                im = c.mapping(item, where)
                if im is None:
                    continue
                c.unknown(im, ("contains", "value"), where)
                words: list[str] = []
                if "contains" in im:
                    wnode = im["contains"][1]
                    items = wnode.value if isinstance(wnode, yaml.SequenceNode) else [wnode]
                    for w in items:
                        t = c.text(w, f"{where}.contains")
                        if t:
                            words.append(t.casefold())
                if not words:
                    c.add(where, "needs contains: [words...]", item)
                value = c.text(im["value"][1], f"{where}.value") if "value" in im else None
                if "value" not in im:
                    c.add(where, "needs value:", item)
                if words and value is not None:
                    rules.append((tuple(words), value))
    default = (
        c.text(m["default"][1], f"{path}.default", allow_null=True) if "default" in m else None
    )
    if column is None and default is None:
        c.add(path, "needs column: (or a default: for every row)", node)
    return ValueMap(column, values, tuple(rules), default)


def parse_mapping(text: str, source: str = "<mapping>") -> ImportMapping:
    """Parse and check a mapping document; every problem is reported at once
    (:class:`~casework.errors.DefinitionError` with lines)."""
    c = _Checker(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        raise DefinitionError(
            source, [Problem("", f"not valid YAML: {exc}", line, source)]
        ) from None
    if root is None:
        raise DefinitionError(source, [Problem("", "the mapping file is empty", None, source)])
    top = c.mapping(root, "")
    if top is None:
        raise DefinitionError(source, c.problems)
    c.unknown(top, _TOP_KEYS, "")

    def scalar(key: str, *, allow_null: bool = False) -> str | None:
        return c.text(top[key][1], key, allow_null=allow_null) if key in top else None

    workflow = scalar("workflow")
    if "workflow" not in top:
        c.add("workflow", "required: the workflow imported cases join", root)
    tz = scalar("timezone") or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.add("timezone", f"unknown time zone {tz!r} (e.g. America/New_York)", top["timezone"][1])
    formats: tuple[str, ...] = ("iso",)
    if "time_format" in top:
        fnode = top["time_format"][1]
        items = fnode.value if isinstance(fnode, yaml.SequenceNode) else [fnode]
        formats = tuple(t for t in (c.text(n, "time_format") for n in items) if t)
        if not formats:
            formats = ("iso",)
    as_of: dt.datetime | None = None
    as_of_text = scalar("as_of", allow_null=True)
    if as_of_text not in (None, "file_max"):
        try:
            parsed = dt.datetime.fromisoformat(str(as_of_text))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=ZoneInfo(tz))
            as_of = parsed.astimezone(UTC)
        except (ValueError, ZoneInfoNotFoundError):
            c.add("as_of", f"{as_of_text!r} is not an ISO time or 'file_max'", top["as_of"][1])

    columns: dict[str, str] = {}
    channel: ValueMap | None = None
    category: ValueMap | None = None
    status: ValueMap | None = None
    if "columns" not in top:
        c.add("columns", "required: which column fills which field", root)
    else:
        cm = c.mapping(top["columns"][1], "columns") or {}
        c.unknown(cm, (*SIMPLE_FIELDS, *MAPPED_FIELDS), "columns")
        for key, (_, vnode) in cm.items():
            where = f"columns.{key}"
            if key == "channel":
                channel = _value_map(c, vnode, where)
            elif key == "category":
                category = _value_map(c, vnode, where)
            elif key == "status":
                status = _value_map(c, vnode, where)
            elif key in SIMPLE_FIELDS:
                col = c.text(vnode, where)
                if col is not None:
                    columns[key] = col
        for need in ("external_id", "received_at"):
            if need not in cm:
                c.add(f"columns.{need}", "required", top["columns"][1])
        if "channel" not in cm:
            c.add(
                "columns.channel",
                "required (a column with a value map, or default:)",
                top["columns"][1],
            )
    data: dict[str, str] = {}
    if "data" in top:
        for key, (_, vnode) in (c.mapping(top["data"][1], "data") or {}).items():
            col = c.text(vnode, f"data.{key}")
            if col is not None:
                data[key] = col
    closed_before: str = "reject"
    before_first: str = "earliest"
    if "bad_rows" in top:
        bm = c.mapping(top["bad_rows"][1], "bad_rows") or {}
        c.unknown(bm, _BAD_ROW_KEYS, "bad_rows")
        if "closed_before_received" in bm:
            closed_before = c.text(bm["closed_before_received"][1], "bad_rows") or "reject"
            if closed_before not in ("reject", "clamp", "keep"):
                c.add(
                    "bad_rows.closed_before_received",
                    "expected reject, clamp or keep",
                    bm["closed_before_received"][1],
                )
        if "before_first_version" in bm:
            before_first = c.text(bm["before_first_version"][1], "bad_rows") or "earliest"
            if before_first not in ("earliest", "reject"):
                c.add(
                    "bad_rows.before_first_version",
                    "expected earliest or reject",
                    bm["before_first_version"][1],
                )
    delimiter = scalar("delimiter") or ","
    if len(delimiter) != 1:
        c.add("delimiter", "expected one character", top["delimiter"][1])
    if c.problems:
        raise DefinitionError(source, c.problems)
    assert workflow is not None and channel is not None
    return ImportMapping(
        workflow=workflow,
        columns=columns,
        channel=channel,
        category=category,
        status=status,
        data=data,
        timezone=tz,
        time_formats=formats,
        closed_state=scalar("closed_state") or "archived",
        as_of=as_of,
        source=scalar("source"),
        skip_until_header=scalar("skip_until_header", allow_null=True),
        delimiter=delimiter,
        encoding=scalar("encoding") or "utf-8-sig",
        closed_before_received=closed_before,  # type: ignore[arg-type]
        before_first_version=before_first,  # type: ignore[arg-type]
        path=source,
    )


def load_mapping(path: str | Path) -> ImportMapping:
    """Read and check a mapping file."""
    p = Path(path)
    return parse_mapping(p.read_text(encoding="utf-8"), str(p))


def _check_against(mapping: ImportMapping, spec: WorkflowSpec) -> None:
    """The mapping's outputs must be values the workflow knows."""
    problems: list[Problem] = []
    src = mapping.path

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message, None, src))

    finals = set(spec.finals)
    if mapping.closed_state not in finals:
        bad(
            "closed_state",
            f"{mapping.closed_state!r} is not a final state of {spec.name} "
            f"(final states: {', '.join(sorted(finals))})",
        )
    if spec.channels:
        for v in sorted(mapping.channel.outputs() - set(spec.channels)):
            bad(
                "columns.channel",
                f"{v!r} is not a channel of {spec.name} ({', '.join(spec.channels)})",
            )
    if mapping.category is not None and spec.categories:
        for v in sorted(mapping.category.outputs() - set(spec.categories)):
            bad(
                "columns.category",
                f"{v!r} is not a category of {spec.name} ({', '.join(spec.categories)})",
            )
    if mapping.status is not None:
        for v in sorted(mapping.status.outputs() - {OPEN, CLOSED} - finals):
            bad(
                "columns.status",
                f"{v!r}: a status maps to open, closed or a final state "
                f"({', '.join(sorted(finals))})",
            )
    if problems:
        raise DefinitionError(src, problems)


# ---------------------------------------------------------------------------- the report


@attrs.frozen
class BadRow:
    """A row that was skipped: its 1-based line in the file and why."""

    line: int
    reason: str
    external_id: str | None = None


@attrs.frozen
class ImportReport:
    """What one :func:`import_csv` run did. ``seconds`` is the wall time of the whole call, the
    as-of pass over the file included."""

    file: str
    workflow: str
    rows: int
    created: int
    existing: int
    duplicates: int
    bad: int
    bad_rows: tuple[BadRow, ...]
    closed: int
    clamped: int
    pinned_to_earliest: int
    deadlines: Mapping[str, int]
    by_channel: Mapping[str, int]
    as_of: dt.datetime | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "workflow": self.workflow,
            "rows": self.rows,
            "created": self.created,
            "existing": self.existing,
            "duplicates": self.duplicates,
            "bad": self.bad,
            "bad_rows": [attrs.asdict(b) for b in self.bad_rows],
            "closed": self.closed,
            "clamped": self.clamped,
            "pinned_to_earliest": self.pinned_to_earliest,
            "deadlines": dict(self.deadlines),
            "by_channel": dict(self.by_channel),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


class _BadValue(Exception):
    pass


# ---------------------------------------------------------------------------- parsing


_DIRECTIVES = {
    "Y": r"(\d{4})",
    "m": r"(\d{1,2})",
    "d": r"(\d{1,2})",
    "H": r"(\d{1,2})",
    "M": r"(\d{1,2})",
    "S": r"(\d{1,2})",
    "f": r"(\d{1,6})",
}
_ORDER = "YmdHMSf"
# Formats datetime.fromisoformat reads exactly (it is ~20x faster than a regex).
_ISO_SHAPED = frozenset(
    {
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%dT%H:%M:%S.%f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    }
)


def _iso_shaped(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        raise ValueError(text)  # the format has no offset
    return value


def _sortable(formats: tuple[str, ...]) -> bool:
    """Whether texts in these formats sort like the instants they name (fixed-width,
    most significant first), so the latest can be found without parsing every value."""
    return all(f in _ISO_SHAPED for f in formats)


def _compile_format(fmt: str) -> Callable[[str], dt.datetime] | None:
    """A fast parser for strptime formats made of %Y %m %d %H %M %S %f and literals (strptime
    costs ~10 us a call; an import parses up to three times per row). ``None`` when the format
    uses anything else."""
    import re

    pattern: list[str] = []
    fields: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _DIRECTIVES or fmt[i + 1] in fields:
                return None
            pattern.append(_DIRECTIVES[fmt[i + 1]])
            fields.append(fmt[i + 1])
            i += 2
        else:
            pattern.append(re.escape(ch))
            i += 1
    if not {"Y", "m", "d"} <= set(fields):
        return None
    if fmt in _ISO_SHAPED:
        return _iso_shaped
    match = re.compile("".join(pattern) + r"\Z").match
    slots = [_ORDER.index(f) for f in fields]

    def parse(text: str) -> dt.datetime:
        found = match(text)
        if found is None:
            raise ValueError(text)
        parts = [0, 0, 0, 0, 0, 0, 0]
        for slot, value in zip(slots, found.groups(), strict=True):
            parts[slot] = int(value.ljust(6, "0")) if slot == 6 else int(value)
        y, mo, d, h, mi, sec, us = parts
        return dt.datetime(y, mo, d, h, mi, sec, us)

    return parse


def _steady_offset(zone: ZoneInfo, day: dt.date) -> dt.timedelta | None:
    """``zone``'s UTC offset on the local ``day`` when it holds from midnight to midnight (read
    at every whole hour), else ``None``: the zone changes its offset that day."""
    start = dt.datetime.combine(day, dt.time(), zone)
    offset = start.utcoffset()
    for hour in range(1, 25):
        if (start + dt.timedelta(hours=hour)).utcoffset() != offset:
            return None
    return offset


def _utc_parser(formats: tuple[str, ...], tz: str) -> Callable[[str], dt.datetime]:
    """``text -> naive UTC datetime``; naive texts are local times in ``tz`` (an ambiguous or
    skipped local time takes the offset in force before the change, ``fold=0``). Raises
    ``ValueError``. The zone's offset is looked up once per local day (per value on a day the
    offset changes). Cached: date-only columns repeat a lot."""
    zone = ZoneInfo(tz)
    parsers: list[Callable[[str], dt.datetime]] = []
    for fmt in formats:
        if fmt == "iso":
            parsers.append(dt.datetime.fromisoformat)
        else:
            fast = _compile_format(fmt)
            parsers.append(
                fast
                if fast is not None
                else functools.partial(lambda f, text: dt.datetime.strptime(text, f), fmt)
            )
    shown = " or ".join("ISO 8601" if f == "iso" else f for f in formats)
    offsets: dict[dt.date, dt.timedelta | None] = {}

    def one(text: str) -> dt.datetime:
        for parse in parsers:
            try:
                value = parse(text)
            except ValueError:
                continue
            if value.tzinfo is not None:
                return value.astimezone(UTC).replace(tzinfo=None)
            day = value.date()
            try:
                offset = offsets[day]
            except KeyError:
                offset = offsets[day] = _steady_offset(zone, day)
            if offset is None:
                return value.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
            return value - offset
        raise ValueError(f"{text!r} is not a time ({shown})")

    if all(f == "iso" or f in _ISO_SHAPED for f in formats):
        return one  # already fast; a cache of mostly unique texts would only cost
    return functools.lru_cache(maxsize=65_536)(one)


def _open_rows(path: Path, mapping: ImportMapping) -> tuple[Any, list[str], int]:
    """Open the file positioned after its header; returns (file, header, header line)."""
    f = path.open(encoding=mapping.encoding, newline="")
    try:
        line_no = 0
        wanted = mapping.skip_until_header
        while True:
            line = f.readline()
            if not line:
                raise DefinitionError(
                    mapping.path,
                    [
                        Problem(
                            "skip_until_header",
                            f"no header line starting with {wanted!r} in {path}"
                            if wanted
                            else f"{path} is empty",
                            None,
                            mapping.path,
                        )
                    ],
                )
            line_no += 1
            if wanted is None or line.lstrip("\ufeff").startswith(wanted):
                break
        header = next(csv.reader([line], delimiter=mapping.delimiter))
        header = [h.strip().lstrip("\ufeff") for h in header]
        return f, header, line_no
    except BaseException:
        f.close()
        raise


class _Lines:
    """The lines of a text file, for ``csv.reader``, read 64 KiB at a time (a generator step
    per line would cost more than the counting it does), and the characters in the first n."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.before = 0  # lines before the current chunk
        self.chars_before = 0
        self.chunk: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[list[str]]:
        while lines := self.f.readlines(65_536):
            self.before += len(self.chunk)
            self.chars_before += sum(map(len, self.chunk))
            self.chunk = lines
            yield lines

    def chars(self, n: int | None = None) -> int:
        """Characters in the first ``n`` lines handed out (default: all of them)."""
        part = self.chunk if n is None else self.chunk[: n - self.before]
        return self.chars_before + sum(map(len, part))


@attrs.define
class _Plan:
    """Column indexes and settings resolved against one file's header."""

    idx: dict[str, int]
    channel_idx: int | None
    category_idx: int | None
    status_idx: int | None
    text_idx: list[tuple[str, int, int]]
    data_idx: list[tuple[str, int]]
    width: int


def _plan(mapping: ImportMapping, header: list[str]) -> _Plan:
    pos = {h: i for i, h in enumerate(header)}
    problems = []
    for where, col in mapping.required_columns():
        if col not in pos:
            import difflib

            close = difflib.get_close_matches(col, header, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                Problem(
                    where, f"column {col!r} is not in the file's header{hint}", None, mapping.path
                )
            )
    if problems:
        raise DefinitionError(mapping.path, problems)

    def column_of(vm: ValueMap | None) -> int | None:
        return None if vm is None or vm.column is None else pos[vm.column]

    idx = {k: pos[v] for k, v in mapping.columns.items()}
    data_idx = [(_js(k), pos[v]) for k, v in mapping.data.items()]
    special = [column_of(mapping.channel), column_of(mapping.category), column_of(mapping.status)]
    used = [*idx.values(), *(i for _, i in data_idx), *(i for i in special if i is not None)]
    return _Plan(
        idx=idx,
        channel_idx=special[0],
        category_idx=special[1],
        status_idx=special[2],
        text_idx=[(f, idx[f], limit) for f, limit in TEXT_FIELDS.items() if f in idx],
        data_idx=data_idx,
        width=max(used) + 1,
    )


def _scan_max_time(
    path: Path, mapping: ImportMapping, parse: Callable[[str], dt.datetime]
) -> dt.datetime | None:
    """The latest received/closed/target time in the file (the default as-of), aware;
    ``parse`` is a :func:`_utc_parser`."""
    f, header, _ = _open_rows(path, mapping)
    with f:
        plan = _plan(mapping, header)
        cols = [plan.idx[k] for k in TIME_FIELDS if k in plan.idx]
        texts: set[str] = set()
        sortable = _sortable(mapping.time_formats)
        top: list[str] = [""] * len(cols)
        for width, row in _leading_fields(f, mapping.delimiter, max(cols) + 1):
            if width < plan.width:
                continue
            for n, i in enumerate(cols):
                value = row[i]
                if sortable:
                    if value > top[n]:
                        top[n] = value
                elif value:
                    texts.add(value)
        latest: dt.datetime | None = None
        for text in top if sortable else texts:
            if text.strip():
                try:
                    value_at = parse(text.strip())
                except ValueError:
                    continue
                if latest is None or value_at > latest:
                    latest = value_at
        return latest.replace(tzinfo=UTC) if latest is not None else None


def _leading_fields(f: Any, delimiter: str, n: int) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record of ``f`` as its number of fields and its first ``n`` fields, as
    ``csv.reader`` reads them. A line without a quote character (nearly every line) is simply
    split, without taking apart the fields after the ``n``-th: several times faster."""
    lines = iter(f)
    for line in lines:
        if '"' in line:
            # Quoted fields, maybe with line breaks: the csv module reads this one record.
            row = next(csv.reader(itertools.chain((line,), lines), delimiter=delimiter), [])
            yield len(row), row[:n]
            continue
        line = line.rstrip("\r\n")
        if line:
            yield line.count(delimiter) + 1, line.split(delimiter, n)[:n]
        else:
            yield 0, []


# ---------------------------------------------------------------------------- writing


# The page cache a SQLite connection gets while it writes one import batch (KiB), restored when
# the batch ends: a batch's inserts into indexes in random key order (times) dirty pages all over
# them, and SQLite's default 2 MiB makes it spill dirty pages to the WAL mid-transaction, some
# of them several times. A cache setting only; durability is untouched.
IMPORT_CACHE_KIB = 65_536
# SQLite: rows per multi-row INSERT (fewer when the limit on bound values is lower).
ROWS_PER_INSERT = 5000


class _SwitchInterval:
    """Lowers the interpreter's thread switch interval while import writer threads run.

    A writer thread takes the GIL back after every statement (pysqlite releases it inside
    SQLite). CPython makes a thread that wants the GIL wait a whole switch interval (5 ms by
    default) before the running thread, here the one parsing, must let go: tens of statements
    per batch would each wait that long, and the writer would fall behind. Counted, so
    overlapping imports restore the setting only when the last one ends.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    @contextlib.contextmanager
    def lowered(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                if self._saved > self.seconds:
                    sys.setswitchinterval(self.seconds)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and sys.getswitchinterval() == min(self._saved, self.seconds):
                    sys.setswitchinterval(self._saved)


_WRITER_SWITCH = _SwitchInterval(0.0005)


class _BulkInsert:
    """Statements inserting rows already in the driver's form, run straight on the DBAPI cursor.

    SQLAlchemy's per-value bind processing costs more than the rest of an import, so
    :class:`_Encoder` converts values itself, exactly as casework's column types store them.
    PostgreSQL: one ``executemany``. SQLite: multi-row ``INSERT ... VALUES (...), (...)`` of up
    to ``rows_per_statement`` rows, because pysqlite releases the GIL around every statement
    step and an import's writer thread (see :meth:`_Importer.write_behind`) has to take it back
    afterwards, each time waiting up to a switch interval (5 ms) while the parsing thread runs:
    with ``executemany`` that is once per row.
    """

    def __init__(
        self, dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], max_values: int
    ) -> None:
        prep = dialect.identifier_preparer
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sqlite = dialect.name == "sqlite"
        self.head = (
            f"INSERT INTO {prep.format_table(table)} "
            f"({', '.join(prep.quote(c) for c in columns)}) VALUES "
        )
        self.one = f"({', '.join(mark for _ in columns)})"
        self.rows_per_statement = max(1, min(ROWS_PER_INSERT, max_values // len(columns)))
        # Full-size statements share one text, so pysqlite prepares it once per connection.
        self.full = self.head + ",".join([self.one] * self.rows_per_statement)

    def statements(self, rows: list[tuple[Any, ...]]) -> list[tuple[str, Any]]:
        """``(sql, parameters)`` to run with ``exec_driver_sql``."""
        if not rows:
            return []
        if not self.sqlite:
            return [(self.head + self.one, rows)]
        out: list[tuple[str, Any]] = []
        n = self.rows_per_statement
        for i in range(0, len(rows), n):
            part = rows[i : i + n]
            sql = self.full if len(part) == n else self.head + ",".join([self.one] * len(part))
            out.append((sql, tuple(itertools.chain.from_iterable(part))))
        return out


def _bound_value_limit(conn: sa.Connection) -> int:
    """SQLite's limit on ``?`` per statement on this connection (32,766 since 3.32; 999 before)."""
    getlimit = getattr(conn.connection.driver_connection, "getlimit", None)
    if getlimit is None:  # not the standard library's driver
        return 999
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


class _Encoder:
    """Values in the form the driver stores for casework's column types.

    SQLite: instants as naive-UTC text in SQLAlchemy's DATETIME format
    (``2026-05-06 01:00:00.000000``), JSON as text, booleans as 0/1, numerics as floats.
    PostgreSQL (psycopg): aware datetimes as they are, JSON as ``Jsonb``.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"

    def stamp(self, v: dt.datetime) -> tuple[str, Any]:
        """A naive UTC instant as :func:`casework.audit.event_hash` hashes it
        (``2026-05-06T01:00:00.000000+00:00``) and in the driver's form; formatted naive,
        at half the cost of an aware ``isoformat``."""
        if self.sqlite:
            db = v.isoformat(" ", "microseconds")
            return f"{db[:10]}T{db[11:]}+00:00", db
        return v.isoformat("T", "microseconds") + "+00:00", v.replace(tzinfo=UTC)

    def json(self, text: str) -> Any:
        """``text`` is the JSON document, already serialised."""
        if self.sqlite:
            return text
        from psycopg.types.json import Jsonb

        return Jsonb(text, dumps=_as_is)

    def number(self, v: Decimal | None) -> Any:
        return float(v) if self.sqlite and v is not None else v


def _as_is(text: Any) -> str:
    return str(text)


# The escaping json.dumps(ensure_ascii=False) applies to a string (C-accelerated).
_js: Callable[[str], str] = json.encoder.encode_basestring
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ROLES_JSON = _to_json(sorted(IMPORT_ROLES))
_ACTOR_JSON = _js(IMPORT_ACTOR)


# :func:`casework.audit.event_hash` for an import event, its canonical JSON assembled directly
# (``json.dumps`` with sorted keys costs more than everything else an imported row needs): the
# array ``[prev_hash, case_id, seq, kind, trigger, from_state, to_state, actor, roles, data,
# occurred_at, recorded_at]``. Everything after the case id is known once the row is parsed
# (:func:`_event_tail`); the ids and the chain are added when a batch is assembled
# (:func:`_event_hash`). Each batch checks its first event against ``event_hash`` itself.


def _event_tail_head(seq: int, kind: str, from_state: str | None, to_state: str) -> str:
    """The canonical JSON of an import event after its case id, up to its data: the same for
    every case of a workflow version (see :func:`_event_tail`)."""
    return (
        f",{seq},{_js(kind)},null,{'null' if from_state is None else _js(from_state)},"
        f"{_js(to_state)},{_ACTOR_JSON},{_ROLES_JSON},"
    )


def _event_tail(head: str, data_json: str, occurred_iso: str, recorded_iso: str) -> str:
    """The canonical JSON of an import event after its case id. ``data_json`` must be
    canonical: keys sorted, ``,``/``:`` separators, not ASCII-escaped."""
    return f'{head}{data_json},"{occurred_iso}","{recorded_iso}"]'


def _event_hash(prev_hash: str, case_id: int, tail: str) -> str:
    return hashlib.sha256(f"[{_js(prev_hash)},{case_id}{tail}".encode()).hexdigest()


# Columns an import writes; the others keep their server defaults (0, false, '', 1, NULL). The
# columns that depend on the case id come last: a row is prepared while its line is parsed, and
# completed once its batch's ids are known (see _Row). Cases: these, the mapped text fields,
# amount, then _CASE_ID_COLUMNS.
_CASE_COLUMNS = (
    "workflow",
    "workflow_version",
    "state",
    "version",
    "channel",
    "category",
    "external_id",
    "data",
    "received_at",
    "closed_at",
    "updated_at",
    "last_seq",
)
_CASE_ID_COLUMNS = ("id", "head_hash")
_EVENT_COLUMNS = (
    "seq",
    "kind",
    "from_state",
    "to_state",
    "actor",
    "roles",
    "data",
    "occurred_at",
    "recorded_at",
    "case_id",
    "prev_hash",
    "hash",
)
_DEADLINE_COLUMNS = (
    "clock",
    "status",
    "period",
    "calendar",
    "started_at",
    "due_at",
    "stopped_at",
    "breached_at",
    "data",
    "case_id",
)


def _reserve_ids(conn: sa.Connection, table: sa.Table, n: int) -> list[int]:
    """``n`` fresh primary keys for ``table``, inside the caller's write transaction."""
    if conn.dialect.name == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(table)
        rows = conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": name, "n": n},
        )
        return sorted(int(r[0]) for r in rows)
    # SQLite: the write lock is held (BEGIN IMMEDIATE), so max(id) cannot move under us.
    first = _next_id(conn, table)
    return list(range(first, first + n))


def _next_id(conn: sa.Connection, table: sa.Table) -> int:
    """One more than the highest case id: the id an import gives its next case on SQLite."""
    return int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1


def _execute(conn: sa.Connection, statements: list[tuple[str, Any]]) -> None:
    for sql, params in statements:
        conn.exec_driver_sql(sql, params)


# A parsed row: its rows for the three tables prepared up to what needs its case id (the id
# itself and the event hashes, which cover it). It is an exact tuple of strings, numbers, instants
# and exact tuples of those: the cyclic GC stops tracking such a tuple at its first collection,
# while an object with attributes stays tracked: then the rows in flight (up to ~30,000) were
# walked by every full collection, and kept triggering them (100,000 synthetic rows: 4 full
# collections, 0.3 s of the parsing thread; as tuples, 1 of 0.03 s). Fields by position:
_Row = tuple[Any, ...]
(
    _EXT,  # external id
    _CHANNEL,
    _CATEGORY,  # or None
    _RECEIVED,  # aware UTC datetime
    _FINAL,  # the final state of a closed record, else None
    _VERSION,  # the workflow version's number
    _INITIAL,  # ... and its initial state
    _CLOCK,  # the `resolution` clock's status; None without a target
    _CASE,  # _CASE_COLUMNS and the mapped fields, before id and head_hash
    _OPENED,  # _EVENT_COLUMNS before case_id
    _OPENED_TAIL,  # see _event_tail
    _CLOSING,  # the `imported` event of a closed record, or None
    _CLOSING_TAIL,
    _DEADLINE,  # _DEADLINE_COLUMNS before case_id, or None
) = range(14)

_received: Callable[[_Row], dt.datetime] = operator.itemgetter(_RECEIVED)


@attrs.define
class _Batch:
    """Rows to write in one transaction. On SQLite, also their insert statements, assembled
    for the case ids from ``first_id`` on (which they get unless the store has moved on, or
    some of them exist already; then they are assembled again)."""

    rows: list[_Row]
    chars: int  # characters read up to its last row
    first_id: int = 0
    statements: list[tuple[str, Any]] | None = None


class _Importer:
    def __init__(
        self,
        engine: Engine,
        mapping: ImportMapping,
        path: Path,
        as_of: dt.datetime | None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.engine = engine
        self.mapping = mapping
        self.path = path
        self.batch_size = batch_size
        self.source = mapping.source or path.stem
        self.parse_time = _utc_parser(mapping.time_formats, mapping.timezone)
        versions = engine.workflows.versions(mapping.workflow)
        self.versions = versions
        for spec in versions:
            _check_against(mapping, spec)
        self.tz = ZoneInfo(versions[-1].timezone)
        self.as_of = as_of
        # Rows carry their times as naive UTC datetimes until they are stamped (_Encoder.stamp).
        self.as_of_utc = as_of.astimezone(UTC).replace(tzinfo=None) if as_of else None
        self.now = engine.clock.now()
        self.enc = _Encoder(engine.store.engine.dialect)
        self.now_iso, self.now_db = self.enc.stamp(self.now.astimezone(UTC).replace(tzinfo=None))
        self.roles_db = self.enc.json(_ROLES_JSON)
        self.deadline_data = self.enc.json('{"imported":true}')
        self.rows = 0
        self.bad: list[BadRow] = []
        self.n_bad = 0
        self.duplicates = 0
        self.existing = 0
        self.created = 0
        self.closed = 0
        self.clamped = 0
        self.pinned_to_earliest = 0
        self.deadlines: dict[str, int] = {"met": 0, "breached": 0, "running": 0}
        self.by_channel: dict[str, int] = {}
        self.seen: set[tuple[str, str]] = set()
        self._spec_cache: dict[dt.date, Any] = {}
        self._tail_heads: dict[tuple[str, int, str | None], str] = {}
        self.inserts: tuple[_BulkInsert, _BulkInsert, _BulkInsert]
        self.max_values = 999
        self.cache_size: int | None = None
        self.next_id = 1
        self.reported = 0  # characters reported to ``progress`` so far
        self.with_amount = False
        self._memo: dict[str, dict[str, str | None]] = {"channel": {}, "category": {}, "status": {}}
        self.source_json = _js(self.source)

    # --------------------------------------------------------------- rows

    def reject(self, line: int, reason: str, external_id: str | None = None) -> None:
        self.n_bad += 1
        if len(self.bad) < MAX_BAD_ROWS_KEPT:
            self.bad.append(BadRow(line, reason, external_id))

    def spec_for(self, received_at: dt.datetime) -> Any:
        day = received_at.astimezone(self.tz).date()
        spec = self._spec_cache.get(day)
        if spec is None:
            try:
                spec = self.engine.workflows.in_force(self.mapping.workflow, day)
            except WorkflowNotFound:
                if (
                    self.mapping.before_first_version == "reject"
                    or day >= self.versions[0].effective_from
                ):
                    raise _BadValue(
                        f"received_at: no version of {self.mapping.workflow} is in force on {day}"
                    ) from None
                spec = ("earliest", self.versions[0])
            self._spec_cache[day] = spec
        if isinstance(spec, tuple):
            self.pinned_to_earliest += 1
            return spec[1]
        return spec

    def time(self, row: list[str], field: str, plan: _Plan) -> dt.datetime | None:
        """The field's instant as a naive UTC datetime, or None when empty."""
        i = plan.idx.get(field)
        if i is None:
            return None
        text = row[i].strip()
        if not text:
            return None
        try:
            return self.parse_time(text)
        except ValueError as exc:
            raise _BadValue(f"{field}: {exc}") from None

    def lookup(self, which: str, vm: ValueMap, raw: str) -> str | None:
        memo = self._memo[which]
        try:
            return memo[raw]
        except KeyError:
            value = memo[raw] = vm.lookup(raw)
            return value

    def parse_row(self, row: list[str], line: int, plan: _Plan) -> _Row | None:
        m = self.mapping
        ext: str | None = None
        try:
            if len(row) < plan.width:
                raise _BadValue(f"{len(row)} fields, the mapping reads column {plan.width}")
            ext = row[plan.idx["external_id"]].strip() or None
            if ext is None:
                raise _BadValue("external_id: missing")
            if len(ext) > 200:
                raise _BadValue("external_id: longer than 200 characters")
            raw_channel = row[plan.channel_idx] if plan.channel_idx is not None else ""
            channel = self.lookup("channel", m.channel, raw_channel)
            if channel is None:
                raise _BadValue(f"channel: no mapping for {raw_channel.strip()!r}")
            key = (channel, ext)
            if key in self.seen:
                self.duplicates += 1
                return None
            received = self.time(row, "received_at", plan)
            if received is None:
                raise _BadValue("received_at: missing")
            closed = self.time(row, "closed_at", plan)
            due = self.time(row, "due_at", plan)
            final: str | None
            raw_status = None
            if m.status is not None:
                raw_status = row[plan.status_idx] if plan.status_idx is not None else ""
                status = self.lookup("status", m.status, raw_status)
                if status is None:
                    raise _BadValue(f"status: no mapping for {raw_status.strip()!r}")
                final = None if status == OPEN else (m.closed_state if status == CLOSED else status)
                if final is None and closed is not None:
                    raise _BadValue("status says open but closed_at is set")
                if final is not None and closed is None:
                    raise _BadValue("status says closed but closed_at is missing")
            else:
                final = m.closed_state if closed is not None else None
            given = ""
            if closed is not None and closed < received:
                if m.closed_before_received == "reject":
                    raise _BadValue(
                        f"closed_at {closed.replace(tzinfo=UTC).isoformat()} is before "
                        f"received_at {received.replace(tzinfo=UTC).isoformat()}"
                    )
                if m.closed_before_received == "clamp":
                    given = f',"closed_at_as_given":"{self.enc.stamp(closed)[0]}"'
                    closed = received
                    self.clamped += 1
            received_at = received.replace(tzinfo=UTC)
            spec = self.spec_for(received_at)
            category = raw_category = None
            if m.category is not None:
                raw_category = row[plan.category_idx] if plan.category_idx is not None else ""
                category = self.lookup("category", m.category, raw_category)
            text = [row[i].strip()[:limit] or None for _, i, limit in plan.text_idx]
            amount = None
            if "amount" in plan.idx:
                raw_amount = row[plan.idx["amount"]].strip()
                if raw_amount:
                    try:
                        amount = Decimal(raw_amount).quantize(Decimal("0.01"))
                    except InvalidOperation:
                        raise _BadValue(f"amount: {raw_amount!r} is not a number") from None
                    if not amount.is_finite() or amount < 0:
                        raise _BadValue(f"amount: {raw_amount!r} is not a non-negative number")
            parts = [
                f'{{"import":{{"source":{self.source_json},"line":{line}{given}}},'
                f'"original":{{"channel":{_js(raw_channel.strip())}'
            ]
            if raw_category is not None:
                parts.append(f',"category":{_js(raw_category.strip())}')
            if raw_status is not None:
                parts.append(f',"status":{_js(raw_status.strip())}')
            parts.append("}")
            for k, i in plan.data_idx:
                v = row[i].strip()
                if v:
                    parts.append(f",{k}:{_js(v)}")
            parts.append("}")
        except _BadValue as exc:
            self.reject(line, str(exc), ext)
            return None
        self.seen.add(key)
        return self.prepare(
            line, ext, channel, category, received, received_at, closed, due, final, spec, text,
            amount, "".join(parts),
        )  # fmt: skip

    def prepare(
        self,
        line: int,
        ext: str,
        channel: str,
        category: str | None,
        received: dt.datetime,
        received_at: dt.datetime,
        closed: dt.datetime | None,
        due: dt.datetime | None,
        final: str | None,
        spec: Any,
        text: list[str | None],
        amount: Decimal | None,
        data_json: str,
    ) -> _Row:
        """The row's table rows in the driver's form, all but what depends on its case id.
        ``received``, ``closed`` and ``due`` are naive UTC; ``received_at`` is ``received``
        aware."""
        enc = self.enc
        as_json, stamp = enc.json, enc.stamp
        now, now_iso, roles = self.now_db, self.now_iso, self.roles_db
        initial = spec.initial
        received_iso, received_db = stamp(received)
        opened_json = (
            (f'{{"category":{_js(category)},' if category else "{")
            + f'"channel":{_js(channel)},"external_id":{_js(ext)},'
            f'"imported":true,"workflow_version":{int(spec.version)}}}'
        )
        # Columns: _EVENT_COLUMNS.
        opened = (1, "opened", None, initial, IMPORT_ACTOR, roles, as_json(opened_json),
                  received_db, now)  # fmt: skip
        opened_tail = _event_tail(self.tail_head(spec, None), opened_json, received_iso, now_iso)
        seq, state = 1, initial
        closed_db = closing = closing_tail = None
        if final is not None:
            assert closed is not None
            closed_iso, closed_db = stamp(closed)
            closing_json = f'{{"line":{int(line)},"source":{self.source_json}}}'
            closing = (2, "imported", initial, final, IMPORT_ACTOR, roles, as_json(closing_json),
                       closed_db, now)  # fmt: skip
            closing_tail = _event_tail(
                self.tail_head(spec, final), closing_json, closed_iso, now_iso
            )
            seq, state = 2, final
        # Columns: _CASE_COLUMNS, then the mapped text fields, then amount.
        case = (spec.name, spec.version, state, seq, channel, category, ext, as_json(data_json),
                received_db, closed_db, now, seq, *text)  # fmt: skip
        if self.with_amount:
            case += (enc.number(amount),)
        clock = deadline = None
        if due is not None:
            clock = self.clock_status(closed if final is not None else None, due)
            due_db = stamp(due)[1]
            # Columns: _DEADLINE_COLUMNS.
            deadline = (RESOLUTION_CLOCK, clock, "imported target", "imported", received_db,
                        due_db, closed_db, due_db if clock == "breached" else None,
                        self.deadline_data)  # fmt: skip
        return (
            ext, channel, category, received_at, final, int(spec.version), initial, clock, case,
            opened, opened_tail, closing, closing_tail, deadline,
        )  # fmt: skip

    def tail_head(self, spec: Any, final: str | None) -> str:
        """:func:`_event_tail_head` of the ``opened`` event of a case of ``spec`` (``final``
        None), or of its ``imported`` event to ``final``."""
        key = (spec.name, spec.version, final)
        head = self._tail_heads.get(key)
        if head is None:
            head = self._tail_heads[key] = (
                _event_tail_head(1, "opened", None, spec.initial)
                if final is None
                else _event_tail_head(2, "imported", spec.initial, final)
            )
        return head

    def clock_status(self, closed: dt.datetime | None, due: dt.datetime) -> str:
        """``closed`` and ``due`` are naive UTC."""
        if closed is not None:
            return "met" if closed <= due else "breached"
        if self.as_of_utc is not None and due <= self.as_of_utc:
            return "breached"
        return "running"

    # --------------------------------------------------------------- batches

    def assemble(self, rows: list[_Row], case_ids: Sequence[int]) -> list[tuple[str, Any]]:
        """The insert statements for ``rows`` as the cases ``case_ids``: the hash chains
        computed, the id-dependent columns filled in."""
        cases: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        deadlines: list[tuple[Any, ...]] = []
        for case_id, r in zip(case_ids, rows, strict=True):
            head = _event_hash(GENESIS, case_id, r[_OPENED_TAIL])
            events.append((*r[_OPENED], case_id, GENESIS, head))
            if r[_CLOSING] is not None:
                prev, head = head, _event_hash(head, case_id, r[_CLOSING_TAIL])
                events.append((*r[_CLOSING], case_id, prev, head))
            cases.append((*r[_CASE], case_id, head))
            if r[_DEADLINE] is not None:
                deadlines.append((*r[_DEADLINE], case_id))
        self._check_hash(events[0], rows[0])
        to_cases, to_events, to_deadlines = self.inserts
        return [
            *to_cases.statements(cases),
            *to_events.statements(events),
            *to_deadlines.statements(deadlines),
        ]

    def write(self, conn: sa.Connection, batch: _Batch) -> list[_Row]:
        """Write one batch; returns the rows written (the others exist already)."""
        cases = self.engine.store.tables.cases
        with self._page_cache(conn):
            if batch.statements is not None and _next_id(conn, cases) == batch.first_id:
                # Assembled while parsing, for the ids the rows get when none of them exist
                # yet: the unique (channel, external_id) index checks that as it goes.
                try:
                    with conn.begin_nested():
                        _execute(conn, batch.statements)
                    return batch.rows
                except sa.exc.IntegrityError:
                    pass  # some rows exist already; the savepoint undid the attempt
            present = self.existing_keys(conn, batch.rows)
            fresh = [r for r in batch.rows if (r[_CHANNEL], r[_EXT]) not in present]
            if fresh:
                _execute(conn, self.assemble(fresh, _reserve_ids(conn, cases, len(fresh))))
            return fresh

    def existing_keys(self, conn: sa.Connection, rows: list[_Row]) -> set[tuple[str, str]]:
        """The ``(channel, external_id)`` keys of ``rows`` already in the store."""
        t = self.engine.store.tables
        if self.enc.sqlite:
            # Exact keys, and one result row per statement: the positions of the rows present
            # (a writer thread would wait for the GIL after every row it fetched).
            prep = conn.dialect.identifier_preparer
            per = max(1, self.max_values // 3)
            found: set[tuple[str, str]] = set()
            for start in range(0, len(rows), per):
                part = rows[start : start + per]
                sql = (
                    "WITH b(i, channel, external_id) AS (VALUES "
                    + ",".join(["(?, ?, ?)"] * len(part))
                    + ") SELECT group_concat(i) FROM b WHERE EXISTS (SELECT 1 FROM "
                    f"{prep.format_table(t.cases)} AS c WHERE c.channel = b.channel "
                    "AND c.external_id = b.external_id)"
                )
                params = tuple(v for i, r in enumerate(part) for v in (i, r[_CHANNEL], r[_EXT]))
                hits = conn.exec_driver_sql(sql, params).scalar()
                if hits:
                    found.update(
                        (part[int(i)][_CHANNEL], part[int(i)][_EXT]) for i in hits.split(",")
                    )
            return found
        # PostgreSQL: the exact keys as two arrays joined to the (channel, external_id) unique
        # index; with `channel IN (...) AND external_id IN (...)` the planner may pick another
        # index on channel and read every case of those channels, once per batch.
        keys = sorted({(r[_CHANNEL], r[_EXT]) for r in rows})
        query = sa.text(
            "SELECT c.channel, c.external_id FROM unnest(CAST(:channels AS text[]), "
            "CAST(:external_ids AS text[])) AS k(channel, external_id) JOIN "
            f"{conn.dialect.identifier_preparer.format_table(t.cases)} AS c "
            "ON c.channel = k.channel AND c.external_id = k.external_id"
        )
        arrays = {"channels": [k[0] for k in keys], "external_ids": [k[1] for k in keys]}
        return {(row[0], row[1]) for row in conn.execute(query, arrays)}

    @contextlib.contextmanager
    def _page_cache(self, conn: sa.Connection) -> Iterator[None]:
        """SQLite: :data:`IMPORT_CACHE_KIB` of page cache for the block, when the connection's
        own is given in KiB and smaller; the engine's setting restored afterwards."""
        old = self.cache_size
        if old is None or not -IMPORT_CACHE_KIB < old < 0:
            yield
            return
        conn.exec_driver_sql(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                conn.exec_driver_sql(f"PRAGMA cache_size = {old}")
            raise
        conn.exec_driver_sql(f"PRAGMA cache_size = {old}")

    def _check_hash(self, event: tuple[Any, ...], r: _Row) -> None:
        """The first event of every batch, hashed by :func:`casework.audit.event_hash`."""
        data = {
            "channel": r[_CHANNEL],
            "external_id": r[_EXT],
            "workflow_version": r[_VERSION],
            "imported": True,
        }
        if r[_CATEGORY]:
            data["category"] = r[_CATEGORY]
        reference = q.build_event(
            case_id=event[_EVENT_COLUMNS.index("case_id")],
            seq=1,
            prev_hash=GENESIS,
            kind="opened",
            actor=IMPORT_ACTOR,
            roles=IMPORT_ROLES,
            occurred_at=r[_RECEIVED],
            recorded_at=self.now,
            to_state=r[_INITIAL],
            data=data,
        )["hash"]
        if reference != event[-1]:
            raise RuntimeError(
                "imported events would not verify: the import's event hash differs from "
                "casework.audit.event_hash (has the audit format changed?)"
            )

    def setup(self, plan: _Plan) -> None:
        """Resolve what the writing needs: the mapped fields, the store's limits and the
        case id the first batch is assembled for."""
        self.with_amount = "amount" in plan.idx
        store = self.engine.store
        t = store.tables

        def probe(conn: sa.Connection) -> tuple[int, int | None, int]:
            if not self.enc.sqlite:
                return 65_535, None, 0
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            return _bound_value_limit(conn), int(cache or 0), _next_id(conn, t.cases)

        self.max_values, self.cache_size, self.next_id = store.run(probe, read=True)
        d = store.engine.dialect
        case_columns = (
            *_CASE_COLUMNS,
            *(field for field, _, _ in plan.text_idx),
            *(["amount"] if self.with_amount else []),
            *_CASE_ID_COLUMNS,
        )
        self.inserts = (
            _BulkInsert(d, t.cases, case_columns, self.max_values),
            _BulkInsert(d, t.events, _EVENT_COLUMNS, self.max_values),
            _BulkInsert(d, t.deadlines, _DEADLINE_COLUMNS, self.max_values),
        )

    def run(self, progress: Callable[[int], None] | None, started: float) -> ImportReport:
        m = self.mapping
        f, header, header_line = _open_rows(self.path, m)
        with f:
            plan = _plan(m, header)
            self.setup(plan)
            lines = _Lines(f)
            batches = self.batches(plan, lines, header_line)
            if self.engine.store.connection is None:
                self.write_behind(batches, progress)
            else:
                # The host's connection (and transaction) stays on the host's thread.
                self.write_inline(batches, progress)
            if progress is not None:
                progress(lines.chars() - self.reported)
        return ImportReport(
            file=str(self.path),
            workflow=m.workflow,
            rows=self.rows,
            created=self.created,
            existing=self.existing,
            duplicates=self.duplicates,
            bad=self.n_bad,
            bad_rows=tuple(sorted(self.bad, key=lambda b: b.line)),
            closed=self.closed,
            clamped=self.clamped,
            pinned_to_earliest=self.pinned_to_earliest,
            deadlines=dict(self.deadlines),
            by_channel=dict(sorted(self.by_channel.items())),
            as_of=self.as_of,
            seconds=time.perf_counter() - started,
        )

    def batches(self, plan: _Plan, lines: _Lines, header_line: int) -> Iterator[_Batch]:
        """The file's rows parsed, in batches ready to write."""
        reader = csv.reader(lines, delimiter=self.mapping.delimiter)
        parse_row, batch_size = self.parse_row, self.batch_size
        rows: list[_Row] = []
        prev_end = 0
        for row in reader:
            line = header_line + prev_end + 1
            prev_end = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            self.rows += 1
            parsed = parse_row(row, line, plan)
            if parsed is not None:
                rows.append(parsed)
                if len(rows) == batch_size:
                    yield self.batch(rows, lines.chars(reader.line_num))
                    rows = []
        if rows:
            yield self.batch(rows, lines.chars(reader.line_num))

    def batch(self, rows: list[_Row], chars: int) -> _Batch:
        # Cases are numbered and written in order of receipt within a batch (file order among
        # equal times): most of the indexes lead with a time, and inserts in key order touch
        # each index page once per batch instead of all over it (see docs/import.md).
        rows.sort(key=_received)
        if not self.enc.sqlite:
            return _Batch(rows, chars)  # PostgreSQL: ids come from the sequence
        first = self.next_id
        self.next_id += len(rows)
        return _Batch(rows, chars, first, self.assemble(rows, range(first, first + len(rows))))

    def write_inline(
        self, batches: Iterator[_Batch], progress: Callable[[int], None] | None
    ) -> None:
        """Parse and write in turn."""
        for batch in batches:
            self.committed(batch, self.commit(batch), progress)

    def write_behind(
        self, batches: Iterator[_Batch], progress: Callable[[int], None] | None
    ) -> None:
        """Parse the next batch on this thread while a writer thread writes the last one.

        The database releases the GIL while it inserts, indexes and syncs, so on two cores
        the two overlap. Batches are written in file order, each in its own transaction, as
        :meth:`write_inline` does; ``progress`` and the report's counts are updated on this
        thread as batches commit. A failed batch stops the import and its error is raised
        here; when parsing fails (or is interrupted), the batches already parsed are written
        first, as they would have been in turn.
        """
        todo: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        done: queue.SimpleQueue[tuple[_Batch, list[_Row]]] = queue.SimpleQueue()
        failed: list[BaseException] = []

        def writer() -> None:
            while (batch := todo.get()) is not None:
                if failed:
                    continue  # keep taking batches so the parsing thread never blocks
                try:
                    done.put((batch, self.commit(batch)))
                except BaseException as exc:  # raised on the parsing thread below
                    failed.append(exc)

        def collect() -> None:
            while True:
                try:
                    batch, fresh = done.get_nowait()
                except queue.Empty:
                    return
                self.committed(batch, fresh, progress)

        thread = threading.Thread(target=writer, name="casework-import-writer", daemon=True)
        with _WRITER_SWITCH.lowered():
            thread.start()
            try:
                for batch in batches:
                    todo.put(batch)
                    if failed:
                        break
                    collect()
            finally:
                todo.put(None)
                thread.join()
        if failed:
            raise failed[0]
        collect()

    def commit(self, batch: _Batch) -> list[_Row]:
        """Write one batch in its own transaction; the rows created."""
        return self.engine.store.run(lambda conn: self.write(conn, batch))

    def committed(
        self, batch: _Batch, fresh: list[_Row], progress: Callable[[int], None] | None
    ) -> None:
        """Count a committed batch (``fresh``: its rows created) and, when it is a full
        batch, report the characters read since the last report to ``progress``."""
        self.created += len(fresh)
        self.existing += len(batch.rows) - len(fresh)
        for r in fresh:
            self.by_channel[r[_CHANNEL]] = self.by_channel.get(r[_CHANNEL], 0) + 1
            if r[_FINAL] is not None:
                self.closed += 1
            if r[_CLOCK] is not None:
                self.deadlines[r[_CLOCK]] += 1
        if progress is not None and len(batch.rows) == self.batch_size:
            progress(batch.chars - self.reported)
            self.reported = batch.chars


def import_csv(
    engine: Engine,
    path: str | Path,
    mapping: ImportMapping | str | Path,
    *,
    as_of: dt.datetime | str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the cases of a CSV file described by ``mapping`` (a parsed mapping or its path).

    ``as_of`` (aware, or ISO with offset) is the instant an open case's target is judged
    against: at or before it the ``resolution`` clock is ``breached``, after it ``running``.
    Default: the mapping's ``as_of``, else the latest received/closed/target time in the file.
    ``progress(n)`` is called after each batch with the characters read since the last call
    (the file size is a good total). Bad rows are skipped and listed in the report; every
    batch of ``batch_size`` rows commits on its own, and a re-run skips what exists.

    A second thread writes each batch while the next one is parsed (``progress`` is still
    called on the calling thread); on a host's ``Connection`` everything runs on the calling
    thread, in the host's transaction.
    """
    started = time.perf_counter()
    if not isinstance(mapping, ImportMapping):
        mapping = load_mapping(mapping)
    p = Path(path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    when: dt.datetime | None
    if as_of is not None:
        when = ensure_aware(as_of, "as_of")
    elif mapping.as_of is not None:
        when = mapping.as_of
    elif "due_at" in mapping.columns:
        when = _scan_max_time(p, mapping, _utc_parser(mapping.time_formats, mapping.timezone))
    else:
        when = None
    importer = _Importer(engine, mapping, p, when, batch_size)
    report = importer.run(progress, started)
    log.info(
        "imported %s: %d created, %d existing, %d bad of %d rows in %.2fs",
        p,
        report.created,
        report.existing,
        report.bad,
        report.rows,
        report.seconds,
    )
    return report
