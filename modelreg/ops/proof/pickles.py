"""A static pickle scanner: the globals a pickle would import, read from its opcodes alone.

Nothing is unpickled and no module is imported. The walker follows the opcode stream (the
opcodes of ``pickletools``, every protocol) with a small symbolic stack and memo, so that the
names ``STACK_GLOBAL`` takes from the stack are known however they got there (a memo ``GET``, a
``STRING`` decoded as ASCII, a ``DUP``); a name it cannot know is recorded as ``<unresolved>``,
which no allowlist holds. It also knows joblib's layout, where the raw bytes of an array follow
the ``BUILD`` of its ``NumpyArrayWrapper`` inside the pickle stream (a nested pickle for an
object array), and skips those bytes by their size.

Time and memory are bounded whatever the input: large arguments are skipped without being
held, containers are tracked only up to ``MAX_TRACKED`` items, the memo up to ``MAX_MEMO``
entries and the stack up to ``MAX_STACK``; a stream beyond those bounds is "not read to the
end", which the allowlist judges as unknown, never as safe.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import IO, Any

UNRESOLVED = "<unresolved>"
MAX_STACK = 1_000_000
MAX_MEMO = 1_000_000
MAX_TRACKED = 1_000_000  # items kept inside tracked containers (lists, dicts, tuples)
MAX_VALUE = 4096  # longest string or bytes value kept; longer ones are skipped
MAX_LINE = 1 << 16
MAX_NESTING = 8  # joblib object arrays hold nested pickles
_CHUNK = 1 << 20
_JOBLIB_WRAPPERS = frozenset({"joblib.numpy_pickle.NumpyArrayWrapper"})
_NUMPY_DTYPES = frozenset({"numpy.dtype"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Unreadable(Exception):
    """The stream is not a pickle this scanner can follow to its end."""


class _Opaque:
    """A value the scanner does not model (a number, a big string, a call's result)."""

    __slots__ = ()


OPAQUE = _Opaque()
_MARK = object()


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def dotted(self) -> str:
        return import_name(self.module, self.name)


@dataclass
class Obj:
    """What a call (REDUCE, NEWOBJ, INST, OBJ) would build: its callable, arguments and state."""

    func: Any
    args: Any
    state: Any = None


def import_name(module: str, name: str) -> str:
    """``module.name``; a name that walks attributes (``a.b``, protocol 4) is ``module:a.b``,
    so that it never reads as the plain import of an allowlisted name."""
    return f"{module}:{name}" if "." in name else f"{module}.{name}"


class Reader:
    """Buffered reads over a binary stream, with skips that never hold what they skip."""

    def __init__(self, stream: IO[bytes], budget: int | None = None) -> None:
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.offset = 0  # stream offset of buf[0]
        self.budget = budget  # most bytes this reader may consume (a decompressed stream's bound)

    def tell(self) -> int:
        return self.offset + self.pos

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``pos``; False at the end of the stream."""
        while len(self.buf) - self.pos < need:
            chunk = self.stream.read(max(_CHUNK, need))
            if not chunk:
                return False
            self.offset += self.pos
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0
            if self.budget is not None and self.offset + len(self.buf) > self.budget:
                raise Unreadable("expands beyond the bound for a compressed file")
        return True

    def at_end(self) -> bool:
        return not self._fill(1)

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.pos : self.pos + n]

    def take(self, n: int) -> bytes:
        if not self._fill(n):
            raise Unreadable("ends in the middle of an opcode")
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def byte(self) -> int:
        if self.pos >= len(self.buf) and not self._fill(1):
            raise Unreadable("ends before its STOP opcode")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def skip(self, n: int) -> None:
        if n < 0:
            raise Unreadable("a negative length")
        left = len(self.buf) - self.pos
        if n <= left:
            self.pos += n
            return
        n -= left
        self.offset += len(self.buf)
        self.buf, self.pos = b"", 0
        if self.budget is not None and self.offset + n > self.budget:
            raise Unreadable("expands beyond the bound for a compressed file")
        seekable = getattr(self.stream, "seekable", lambda: False)()
        if seekable:
            here = self.stream.tell()
            end = self.stream.seek(0, 2)
            if here + n > end:
                raise Unreadable("a length runs past the end of the file")
            self.stream.seek(here + n)
            self.offset += n
            return
        while n:
            chunk = self.stream.read(min(n, _CHUNK))
            if not chunk:
                raise Unreadable("a length runs past the end of the file")
            n -= len(chunk)
            self.offset += len(chunk)

    def line(self) -> bytes | None:
        """The bytes up to the next newline (consumed); None for a line longer than MAX_LINE,
        which is consumed without being held."""
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                value = self.buf[self.pos : end] if end - self.pos <= MAX_LINE else None
                self.pos = end + 1
                return value
            if len(self.buf) - self.pos > MAX_LINE:
                while True:
                    self.pos = len(self.buf)
                    if not self._fill(1):
                        raise Unreadable("ends inside a text argument")
                    end = self.buf.find(b"\n", self.pos)
                    if end >= 0:
                        self.pos = end + 1
                        return None
            if not self._fill(len(self.buf) - self.pos + 1):
                raise Unreadable("ends inside a text argument")


@dataclass
class PickleFacts:
    """What a scan found: the imports (sorted, distinct), whether the stream was followed to
    its end, why not, and where it ended."""

    imports: set[str] = field(default_factory=set)
    complete: bool = True
    problem: str | None = None
    end: int = 0
    joblib: bool = False
    protocol: int = 0
    calls: bool = False  # a call opcode (REDUCE, INST, OBJ, NEWOBJ, BUILD) was read


class _Walker:
    def __init__(self, reader: Reader, facts: PickleFacts, depth: int = 0) -> None:
        self.r = reader
        self.facts = facts
        self.depth = depth
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.tracked = 0
        self.proto = 0

    # -- stack -------------------------------------------------------------
    def push(self, value: Any) -> None:
        if len(self.stack) >= MAX_STACK:
            raise Unreadable(f"its stack grows beyond {MAX_STACK:,} items")
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise Unreadable("pops from an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise Unreadable("reads an empty stack")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Unreadable("has no MARK where one is needed")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def keep(self, count: int) -> bool:
        """Whether a container may take ``count`` more tracked items."""
        if self.tracked + count > MAX_TRACKED:
            return False
        self.tracked += count
        return True

    def remember(self, index: int, value: Any) -> None:
        if index in self.memo or len(self.memo) < MAX_MEMO:
            self.memo[index] = value
        else:
            self.memo[index] = OPAQUE  # pragma: no cover - beyond the memo bound

    def recall(self, index: int) -> Any:
        if index not in self.memo:
            raise Unreadable(f"reads memo entry {index}, which was never stored")
        return self.memo[index]

    # -- arguments -----------------------------------------------------------
    def counted(self, size: int, *, text: bool) -> Any:
        if size > MAX_VALUE:
            self.r.skip(size)
            return OPAQUE
        raw = self.r.take(size)
        if not text:
            return raw
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise Unreadable("holds a string that is not UTF-8") from None

    def text_line(self) -> bytes:
        value = self.r.line()
        if value is None:
            raise Unreadable("holds a text argument longer than the scanner follows")
        return value

    def ascii_pair(self) -> tuple[str, str]:
        module = self.text_line()
        name = self.text_line()
        try:
            return module.decode("utf-8"), name.decode("utf-8")
        except UnicodeDecodeError:
            raise Unreadable("names a global that is not text") from None

    def record(self, module: Any, name: Any) -> Global | _Opaque:
        if not isinstance(module, str) or not isinstance(name, str):
            self.facts.imports.add(UNRESOLVED)
            return OPAQUE
        if self.proto < 3:
            module, name = _compat(module, name)
        self.facts.imports.add(import_name(module, name))
        return Global(module, name)

    # -- the walk ------------------------------------------------------------
    def run(self) -> None:
        handlers = _HANDLERS
        runs = _RUNS
        r = self.r
        while True:
            buf, pos = r.buf, r.pos
            if pos < len(buf):
                code = buf[pos]
                if code in runs:
                    # A long run of one number opcode (a list of floats or ints): its values are
                    # never names nor a joblib layout, so it is pushed whole, at regex speed.
                    pattern, width = runs[code]
                    match = pattern.match(buf, pos)
                    if match is not None:
                        count = (match.end() - pos) // width
                        if len(self.stack) + count > MAX_STACK:
                            raise Unreadable(f"its stack grows beyond {MAX_STACK:,} items")
                        self.stack.extend([OPAQUE] * count)
                        r.pos = match.end()
                        continue
                # The commonest opcodes of plain pickles (short strings, memo, marks, small ints),
                # handled inline while their bytes are in the buffer: same effect as their handlers.
                if code == 0x8C and pos + 1 < len(buf):
                    end = pos + 2 + buf[pos + 1]
                    if end <= len(buf):
                        try:
                            text: Any = buf[pos + 2 : end].decode("utf-8", "surrogatepass")
                        except UnicodeDecodeError:
                            raise Unreadable("holds a string that is not UTF-8") from None
                        self.push(text)
                        r.pos = end
                        continue
                elif code == 0x94 and self.stack and (not self.marks or len(self.stack) > self.marks[-1]):
                    self.remember(len(self.memo), self.stack[-1])
                    r.pos = pos + 1
                    continue
                elif code == 0x28:  # MARK
                    self.marks.append(len(self.stack))
                    r.pos = pos + 1
                    continue
                elif code == 0x4B and pos + 1 < len(buf):  # BININT1
                    self.push(buf[pos + 1])
                    r.pos = pos + 2
                    continue
                elif code == 0x68 and pos + 1 < len(buf) and buf[pos + 1] in self.memo:  # BINGET
                    self.push(self.memo[buf[pos + 1]])
                    r.pos = pos + 2
                    continue
                r.pos = pos + 1
            else:
                code = r.byte()
            handler = handlers.get(code)
            if handler is None:
                raise Unreadable(f"holds byte 0x{code:02x}, which is no pickle opcode")
            if handler(self):
                self.facts.end = r.tell()
                return

    def build(self) -> None:
        state = self.pop()
        target = self.top()
        if isinstance(target, Obj):
            target.state = state
            if isinstance(target.func, Global) and target.func.dotted in _JOBLIB_WRAPPERS:
                self.facts.joblib = True
                self.skip_joblib_array(state)

    def skip_joblib_array(self, state: Any) -> None:
        """The bytes joblib wrote right after a wrapper: an array's data, or a nested pickle."""
        if not isinstance(state, dict):
            raise Unreadable("holds a joblib array whose layout it cannot read")
        shape, dtype = state.get("shape"), state.get("dtype")
        itemsize, has_object = _dtype_layout(dtype)
        if has_object:
            if self.depth >= MAX_NESTING:
                raise Unreadable("nests joblib pickles too deeply")
            _Walker(self.r, self.facts, self.depth + 1).run()
            return
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise Unreadable("holds a joblib array whose shape it cannot read")
        count = 1
        for n in shape:
            count *= n
        if state.get("numpy_array_alignment_bytes") is not None:
            self.r.skip(self.r.byte())
        self.r.skip(count * itemsize)


def _dtype_layout(dtype: Any) -> tuple[int, bool]:
    """Item size and whether it holds objects, from a pickled ``numpy.dtype`` (never built)."""
    if not (isinstance(dtype, Obj) and isinstance(dtype.func, Global) and dtype.func.dotted in _NUMPY_DTYPES):
        raise Unreadable("holds a joblib array whose dtype it cannot read")
    args, state = dtype.args, dtype.state
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        raise Unreadable("holds a joblib array whose dtype it cannot read")
    flags = state[7] if isinstance(state, tuple) and len(state) > 7 and isinstance(state[7], int) else 0
    if flags & 1 or args[0].startswith("O"):
        return 0, True
    if isinstance(state, tuple) and len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        return state[5], False
    digits = re.search(r"\d+", args[0])
    if digits is None:
        raise Unreadable("holds a joblib array whose item size it cannot read")
    return int(digits.group()), False


def _compat(module: str, name: str) -> tuple[str, str]:
    """Python 2 names, mapped as the unpickler maps them for protocols 0 to 2."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        mapped: tuple[str, str] = _compat_pickle.NAME_MAPPING[(module, name)]
        return mapped
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _int_line(w: _Walker) -> int:
    text = w.text_line().strip()
    try:
        return int(text.rstrip(b"L") or b"x", 10)
    except ValueError:
        raise Unreadable("holds a number it cannot read") from None


def _string_line(w: _Walker) -> Any:
    raw = w.r.line()
    if raw is None:
        return OPAQUE
    raw = raw.rstrip()
    if len(raw) < 2 or raw[0] != raw[-1] or raw[:1] not in (b"'", b'"'):
        raise Unreadable("holds a STRING that is not quoted")
    try:
        return codecs.escape_decode(raw[1:-1])[0].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return OPAQUE


def _unicode_line(w: _Walker) -> Any:
    raw = w.r.line()
    if raw is None:
        return OPAQUE
    try:
        return raw.decode("raw-unicode-escape")
    except UnicodeDecodeError:
        raise Unreadable("holds a UNICODE argument it cannot decode") from None


def _le(data: bytes, signed: bool = False) -> int:
    return int.from_bytes(data, "little", signed=signed)


def _counted_op(size_bytes: int, kind: str, *, signed: bool = False) -> Any:
    """An opcode whose argument is a length and that many bytes: ``kind`` is ``text`` (UTF-8),
    ``bytes``, or ``ascii`` (protocol-2 STRING, which Python 3 decodes as ASCII: it may name a
    module for STACK_GLOBAL too)."""

    def handler(w: _Walker) -> None:
        size = _le(w.r.take(size_bytes), signed)
        if size < 0:
            raise Unreadable("holds a negative length")
        value = w.counted(size, text=kind == "text")
        if kind == "ascii" and isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                value = OPAQUE
        w.push(value)

    return handler


def _push(value: Any) -> Any:
    def handler(w: _Walker) -> None:
        w.push(value)

    return handler


def _push_skip(size: int) -> Any:
    def handler(w: _Walker) -> None:
        w.r.skip(size)
        w.push(OPAQUE)

    return handler


def _long(size_bytes: int) -> Any:
    def handler(w: _Walker) -> None:
        size = _le(w.r.take(size_bytes), signed=size_bytes == 4)
        if size < 0:
            raise Unreadable("holds a negative length")
        if size > 64:
            w.r.skip(size)
            w.push(OPAQUE)
        else:
            w.push(_le(w.r.take(size), signed=True))

    return handler


def _int_fixed(size: int, signed: bool) -> Any:
    def handler(w: _Walker) -> None:
        w.push(_le(w.r.take(size), signed))

    return handler


def _op_int(w: _Walker) -> None:
    text = w.text_line().strip()
    if text in (b"00", b"01"):
        w.push(text == b"01")
        return
    try:
        w.push(int(text, 10))
    except ValueError:
        raise Unreadable("holds an INT it cannot read") from None


def _op_long(w: _Walker) -> None:
    _int_line(w)
    w.push(OPAQUE)


def _op_float(w: _Walker) -> None:
    try:
        float(w.text_line())
    except ValueError:
        raise Unreadable("holds a FLOAT it cannot read") from None
    w.push(OPAQUE)


def _op_string(w: _Walker) -> None:
    w.push(_string_line(w))


def _op_unicode(w: _Walker) -> None:
    w.push(_unicode_line(w))


def _op_mark(w: _Walker) -> None:
    w.marks.append(len(w.stack))


def _op_pop(w: _Walker) -> None:
    if w.stack and (not w.marks or len(w.stack) > w.marks[-1]):
        w.stack.pop()
    elif w.marks and len(w.stack) == w.marks[-1]:
        w.marks.pop()  # POP of a MARK, as the unpickler allows
    else:
        raise Unreadable("pops from an empty stack")


def _op_readonly_buffer(w: _Walker) -> None:
    w.top()


def _op_pop_mark(w: _Walker) -> None:
    w.pop_mark()


def _op_dup(w: _Walker) -> None:
    w.push(w.top())


def _op_empty_list(w: _Walker) -> None:
    w.push([])


def _op_list(w: _Walker) -> None:
    items = w.pop_mark()
    w.push(items if w.keep(len(items)) else OPAQUE)


def _op_append(w: _Walker) -> None:
    item = w.pop()
    target = w.top()
    if isinstance(target, list) and w.keep(1):
        target.append(item)


def _op_appends(w: _Walker) -> None:
    items = w.pop_mark()
    target = w.top()
    if isinstance(target, list) and w.keep(len(items)):
        target.extend(items)


def _op_empty_tuple(w: _Walker) -> None:
    w.push(())


def _op_tuple(w: _Walker) -> None:
    items = w.pop_mark()
    w.push(tuple(items) if w.keep(len(items)) else OPAQUE)


def _tuple_n(n: int) -> Any:
    def handler(w: _Walker) -> None:
        items = [w.pop() for _ in range(n)][::-1]
        w.push(tuple(items))

    return handler


def _set_items(target: Any, pairs: list[Any], w: _Walker) -> None:
    if not isinstance(target, dict) or not w.keep(len(pairs) // 2):
        return
    for key, value in zip(pairs[::2], pairs[1::2], strict=False):
        try:
            target[key] = value
        except TypeError:  # an unhashable key (a list): not a layout the scanner reads
            continue


def _op_empty_dict(w: _Walker) -> None:
    w.push({})


def _op_dict(w: _Walker) -> None:
    items = w.pop_mark()
    if len(items) % 2:
        raise Unreadable("builds a dict from an odd number of items")
    target: dict[Any, Any] = {}
    _set_items(target, items, w)
    w.push(target)


def _op_setitem(w: _Walker) -> None:
    value = w.pop()
    key = w.pop()
    _set_items(w.top(), [key, value], w)


def _op_setitems(w: _Walker) -> None:
    items = w.pop_mark()
    if len(items) % 2:
        raise Unreadable("sets items from an odd number of values")
    _set_items(w.top(), items, w)


def _op_empty_set(w: _Walker) -> None:
    w.push(OPAQUE)


def _op_additems(w: _Walker) -> None:
    w.pop_mark()
    w.top()


def _op_frozenset(w: _Walker) -> None:
    w.pop_mark()
    w.push(OPAQUE)


def _op_get(w: _Walker) -> None:
    w.push(w.recall(_int_line(w)))


def _op_binget(w: _Walker) -> None:
    w.push(w.recall(w.r.byte()))


def _op_long_binget(w: _Walker) -> None:
    w.push(w.recall(_le(w.r.take(4))))


def _op_put(w: _Walker) -> None:
    index = _int_line(w)
    if index < 0:
        raise Unreadable("stores a negative memo index")
    w.remember(index, w.top())


def _op_binput(w: _Walker) -> None:
    w.remember(w.r.byte(), w.top())


def _op_long_binput(w: _Walker) -> None:
    w.remember(_le(w.r.take(4)), w.top())


def _op_memoize(w: _Walker) -> None:
    w.remember(len(w.memo), w.top())


def _ext(size: int, signed: bool) -> Any:
    def handler(w: _Walker) -> None:
        code = _le(w.r.take(size), signed)
        # The copyreg extension registry maps a code to a global this scanner cannot see.
        w.facts.imports.add(f"<extension {code}>")
        w.push(OPAQUE)

    return handler


def _op_global(w: _Walker) -> None:
    module, name = w.ascii_pair()
    w.push(w.record(module, name))


def _op_stack_global(w: _Walker) -> None:
    name = w.pop()
    module = w.pop()
    w.push(w.record(module, name))


def _op_inst(w: _Walker) -> None:
    w.facts.calls = True
    module, name = w.ascii_pair()
    args = w.pop_mark()
    w.push(Obj(w.record(module, name), tuple(args)))


def _op_obj(w: _Walker) -> None:
    w.facts.calls = True
    items = w.pop_mark()
    if not items:
        raise Unreadable("has an OBJ without its class")
    w.push(Obj(items[0], tuple(items[1:])))


def _op_reduce(w: _Walker) -> None:
    w.facts.calls = True
    args = w.pop()
    func = w.pop()
    w.push(Obj(func, args))


def _op_newobj(w: _Walker) -> None:
    w.facts.calls = True
    args = w.pop()
    cls = w.pop()
    w.push(Obj(cls, args))


def _op_newobj_ex(w: _Walker) -> None:
    w.facts.calls = True
    w.pop()
    args = w.pop()
    cls = w.pop()
    w.push(Obj(cls, args))


def _op_build(w: _Walker) -> None:
    w.facts.calls = True
    w.build()


def _op_proto(w: _Walker) -> None:
    w.proto = w.r.byte()
    w.facts.protocol = max(w.facts.protocol, w.proto)
    if w.proto > 5:
        raise Unreadable(f"uses pickle protocol {w.proto}, which does not exist yet")


def _op_frame(w: _Walker) -> None:
    w.r.take(8)  # a size hint only: the opcodes inside a frame are read as any others


def _op_persid(w: _Walker) -> None:
    w.text_line()
    w.push(OPAQUE)


def _op_binpersid(w: _Walker) -> None:
    w.pop()
    w.push(OPAQUE)


def _op_stop(w: _Walker) -> bool:
    w.pop()
    return True


_HANDLERS: dict[int, Any] = {
    ord("I"): _op_int,
    ord("J"): _int_fixed(4, True),
    ord("K"): _int_fixed(1, False),
    ord("M"): _int_fixed(2, False),
    ord("L"): _op_long,
    0x8A: _long(1),
    0x8B: _long(4),
    ord("S"): _op_string,
    ord("T"): _counted_op(4, "ascii", signed=True),
    ord("U"): _counted_op(1, "ascii"),
    ord("B"): _counted_op(4, "bytes"),
    ord("C"): _counted_op(1, "bytes"),
    0x8E: _counted_op(8, "bytes"),
    0x96: _counted_op(8, "bytes"),
    0x97: _push(OPAQUE),  # NEXT_BUFFER
    0x98: _op_readonly_buffer,
    ord("N"): _push(None),
    0x88: _push(True),
    0x89: _push(False),
    ord("V"): _op_unicode,
    0x8C: _counted_op(1, "text"),
    ord("X"): _counted_op(4, "text"),
    0x8D: _counted_op(8, "text"),
    ord("F"): _op_float,
    ord("G"): _push_skip(8),
    ord("]"): _op_empty_list,
    ord("a"): _op_append,
    ord("e"): _op_appends,
    ord("l"): _op_list,
    ord(")"): _op_empty_tuple,
    ord("t"): _op_tuple,
    0x85: _tuple_n(1),
    0x86: _tuple_n(2),
    0x87: _tuple_n(3),
    ord("}"): _op_empty_dict,
    ord("d"): _op_dict,
    ord("s"): _op_setitem,
    ord("u"): _op_setitems,
    0x8F: _op_empty_set,
    0x90: _op_additems,
    0x91: _op_frozenset,
    ord("0"): _op_pop,
    ord("2"): _op_dup,
    ord("("): _op_mark,
    ord("1"): _op_pop_mark,
    ord("g"): _op_get,
    ord("h"): _op_binget,
    ord("j"): _op_long_binget,
    ord("p"): _op_put,
    ord("q"): _op_binput,
    ord("r"): _op_long_binput,
    0x94: _op_memoize,
    0x82: _ext(1, False),
    0x83: _ext(2, False),
    0x84: _ext(4, True),
    ord("c"): _op_global,
    0x93: _op_stack_global,
    ord("i"): _op_inst,
    ord("o"): _op_obj,
    ord("R"): _op_reduce,
    0x81: _op_newobj,
    0x92: _op_newobj_ex,
    ord("b"): _op_build,
    0x80: _op_proto,
    0x95: _op_frame,
    ord("P"): _op_persid,
    ord("Q"): _op_binpersid,
    ord("."): _op_stop,
}


_RUN_MIN = 64  # shorter runs go opcode by opcode (a shape or a dtype state holds a few numbers)
_RUNS: dict[int, tuple[re.Pattern[bytes], int]] = {
    code: (re.compile(b"(?:" + re.escape(bytes([code])) + b".{%d}){%d,}" % (width - 1, _RUN_MIN), re.DOTALL), width)
    for code, width in ((ord("G"), 9), (ord("K"), 2), (ord("J"), 5), (ord("M"), 3))
}


def scan(stream: IO[bytes], *, budget: int | None = None, reader: Reader | None = None) -> PickleFacts:
    """Follow the pickle that starts at the stream's position, and any further pickles right
    after it (each starting with a PROTO opcode, as legacy PyTorch files chain them)."""
    r = reader or Reader(stream, budget)
    facts = PickleFacts()
    try:
        _Walker(r, facts).run()
        for _ in range(16):
            head = r.peek(2)
            if len(head) < 2 or head[0] != 0x80 or head[1] > 5:
                break
            _Walker(r, facts).run()
    except Unreadable as exc:
        facts.complete = False
        facts.problem = str(exc)
    except (MemoryError, RecursionError):  # pragma: no cover - bounds above keep clear of these
        facts.complete = False
        facts.problem = "too large to follow"
    facts.end = r.tell()
    return facts


_PROTOCOL01_START = frozenset(b"(c]}){ldISVNFLKJMGTUBCXp")


def looks_like_protocol01(head: bytes) -> bool:
    """Whether bytes without a PROTO header open like a protocol 0 or 1 pickle that imports
    something: an opcode first, then ``c module\\nname\\n`` or ``i module\\nname\\n`` with real
    identifiers. Plain text seldom does; a hand-made protocol-0 payload does (the caller then
    walks it, and keeps it as a pickle only if it reaches STOP or imports and calls)."""
    if not head or head[0] not in _PROTOCOL01_START:
        return False
    text = head[:4096]
    for match in re.finditer(rb"(?:^|[\n(])[ci]([^\n]{1,200})\n([^\n]{1,200})\n", text):
        module, name = match.group(1), match.group(2)
        try:
            if _IDENT.fullmatch(module.decode("ascii")) and _IDENT.fullmatch(name.decode("ascii")):
                return True
        except UnicodeDecodeError:
            continue
    return False
