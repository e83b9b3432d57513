"""The Python runtime: runs inside the sandbox, loads one function and serves invocations sent by
the host over fd 3. It must not import platform code; the sandbox mounts nothing else.

Handler styles:
  - Lambda / Function Compute: handler(event, context)
  - Qinling: main(name='World', **kwargs): the event's keys become keyword arguments, and a
    parameter named `context` receives the context.

Calls of a `wsgi` HTTP trigger run the handler as a PEP 3333 application,
handler(environ, start_response); the response body is streamed to the host in `http_chunk`
frames, paced by the host's `http_ack`s, so a large body is never held in memory.

Frames (same as src/runtimes/protocol.ts): u32 BE length of the rest | u32 BE header length |
header JSON | payload bytes.
"""

import json
import os
import socket
import struct
import sys
import threading
import time
import traceback

CODE_DIR = os.environ.get("NIMBUS_CODE_DIR", "/code")

_sock = socket.socket(fileno=3)
_send_lock = threading.Lock()


class _Current(threading.local):
    """The invocation each thread is running, for tagging what it prints."""

    id = None


_current = _Current()


def send(header, payload=b""):
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    frame = struct.pack(">II", 4 + len(head) + len(payload), len(head)) + head + payload
    with _send_lock:
        _sock.sendall(frame)


def read_exact(n):
    chunks = []
    while n > 0:
        chunk = _sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame():
    (length,) = struct.unpack(">I", read_exact(4))
    body = read_exact(length)
    (head_len,) = struct.unpack(">I", body[:4])
    return json.loads(body[4 : 4 + head_len]), body[4 + head_len :]


class ChannelWriter:
    """Replaces sys.stdout/sys.stderr: whole lines go to the host tagged with the invocation.
    Each thread buffers its own partial line, so concurrent invocations never mix."""

    def __init__(self, stream):
        self.stream = stream
        self.local = threading.local()

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        buf = getattr(self.local, "buf", "") + text
        if "\n" in buf:
            cut = buf.rindex("\n") + 1
            self._emit(buf[:cut])
            buf = buf[cut:]
        self.local.buf = buf
        return len(text)

    def flush(self):
        buf = getattr(self.local, "buf", "")
        if buf:
            self.local.buf = ""
            self._emit(buf)

    def _emit(self, text):
        send({"t": "log", "id": _current.id, "s": self.stream, "d": text, "ts": int(time.time() * 1000)})

    def isatty(self):
        return False

    def fileno(self):
        return 1 if self.stream == "stdout" else 2

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True


class Context(dict):
    """Lambda-style attributes and Qinling-style item access on one object."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def get_remaining_time_in_millis(self):
        return max(0, int(self["deadline"] - time.time() * 1000))


def wire_error(exc, default_type=None):
    return {
        "type": default_type or type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


class Function:
    def __init__(self, init):
        self.init = init
        module_name, _, attr = init["handler"].rpartition(".")
        import importlib

        # A pre-warmed runtime started before its code arrived: forget any cached directory listing.
        importlib.invalidate_caches()
        self.handler = getattr(importlib.import_module(module_name), attr, None)
        if not callable(self.handler):
            raise AttributeError("handler '%s' is not a function in module '%s'" % (init["handler"], module_name))
        self.style, self.params, self.var_kw = self._style()

    def _style(self):
        import inspect

        try:
            sig = inspect.signature(self.handler)
        except (TypeError, ValueError):
            return "lambda", [], False
        params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        names = [p.name for p in params]
        var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        required = [p for p in params if p.default is p.empty]
        if names[:1] == ["event"] or (len(required) == 2 and names[0] != "context" and not var_kw):
            return "lambda", names, var_kw
        return "kwargs", names, var_kw

    def call(self, event, context):
        if self.style == "lambda":
            return self.handler(event, context) if len(self.params) >= 2 else self.handler(event)
        kwargs = dict(event) if isinstance(event, dict) else {}
        if not self.var_kw:
            kwargs = {k: v for k, v in kwargs.items() if k in self.params}
        if "context" in self.params or self.var_kw:
            kwargs["context"] = context
        return self.handler(**kwargs)


HTTP_STREAM_WINDOW_BYTES = 1024 * 1024
HTTP_CHUNK_BYTES = 256 * 1024


class HttpCancelled(Exception):
    """The client went away: the application's body is not wanted any more."""


class HttpCall:
    """Flow control of one streaming call: bytes sent and not yet acknowledged by the host."""

    def __init__(self, rid):
        self.rid = rid
        self.unacked = 0
        self.cancelled = False
        self.cond = threading.Condition()

    def acked(self, n):
        with self.cond:
            self.unacked -= n
            self.cond.notify_all()

    def cancel(self):
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def send_body(self, data):
        view = memoryview(data)
        for at in range(0, len(view), HTTP_CHUNK_BYTES):
            part = view[at : at + HTTP_CHUNK_BYTES]
            with self.cond:
                while self.unacked >= HTTP_STREAM_WINDOW_BYTES and not self.cancelled:
                    self.cond.wait()
                if self.cancelled:
                    raise HttpCancelled("the client closed the connection")
                self.unacked += len(part)
            send({"t": "http_chunk", "id": self.rid}, bytes(part))


_http_calls = {}


class ErrorsStream:
    """wsgi.errors: what the application writes here goes to the execution's log (stderr)."""

    def write(self, text):
        return sys.stderr.write(text)

    def writelines(self, lines):
        for line in lines:
            sys.stderr.write(line)

    def flush(self):
        sys.stderr.flush()


def wsgi_environ(request, context, multithread):
    import io
    from urllib.parse import unquote_to_bytes

    body = __import__("base64").b64decode(request["body"]) if request["body"] else b""
    environ = {
        "REQUEST_METHOD": request["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request["path"]).decode("latin-1"),
        "QUERY_STRING": request["query"],
        "SERVER_NAME": request["host"].rsplit(":", 1)[0] if not request["host"].endswith("]") else request["host"],
        "SERVER_PORT": str(request["port"]),
        "SERVER_PROTOCOL": request["protocol"],
        "REMOTE_ADDR": request["sourceIp"],
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request["scheme"],
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": ErrorsStream(),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "nimbus.context": context,
        # Function Compute's name for the same thing, so its WSGI handlers run unchanged.
        "fc.context": context,
    }
    for name, value in request["headers"]:
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "content-length":
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = environ[key] + "," + value if key in environ else value
    return environ


def run_wsgi(fn, rid, request, context, multithread):
    """Runs a WSGI application and streams its response; raises what the application raised."""
    call = HttpCall(rid)
    _http_calls[rid] = call
    state = {"head": None, "sent": False}

    def send_head():
        if not state["sent"]:
            status, headers = state["head"]
            state["sent"] = True
            send({"t": "http_head", "id": rid, "status": status, "headers": headers})

    def start_response(status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if state["sent"]:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state["head"] is not None:
            raise AssertionError("start_response was called twice without exc_info")
        code = int(str(status).split(" ", 1)[0])
        state["head"] = (code, [[str(k).lower(), str(v)] for k, v in headers])
        return write

    def write(data):
        if state["head"] is None:
            raise AssertionError("write() before start_response")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("WSGI body chunks must be bytes, not %s" % type(data).__name__)
        if len(data):
            send_head()
            call.send_body(data)

    try:
        result = fn.handler(wsgi_environ(request, context, multithread), start_response)
        try:
            for data in result:
                write(data)
        except HttpCancelled:
            # The client is gone (the host records that): not the application's failure.
            return
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if state["head"] is None:
            raise AssertionError("the WSGI application returned without calling start_response")
        send_head()
    finally:
        _http_calls.pop(rid, None)


def setup_logging():
    import logging

    class Handler(logging.Handler):
        def emit(self, record):
            try:
                sys.stdout.write("[%s]\t%s\t%s\n" % (record.levelname, _current.id, self.format(record)))
            except Exception:
                self.handleError(record)

    root = logging.getLogger()
    root.handlers = [Handler()]
    root.setLevel(logging.INFO)


def apply_rlimits():
    # Only the plain-process sandbox sets this; under cgroups the kernel enforces memory.
    limit = os.environ.get("NIMBUS_RLIMIT_AS_BYTES")
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def preload():
    # Modules every specialisation needs, loaded while the sandbox waits in the pre-warmed pool
    # rather than on a cold start's clock.
    import concurrent.futures  # noqa: F401
    import importlib  # noqa: F401
    import inspect  # noqa: F401
    import logging  # noqa: F401


def main():
    preload()
    sys.stdout = ChannelWriter("stdout")
    sys.stderr = ChannelWriter("stderr")
    apply_rlimits()
    sys.path.insert(0, CODE_DIR)
    minor = "%d.%d" % sys.version_info[:2]
    for extra in ("/usr/local/lib/python%s/dist-packages" % minor, "/usr/lib/python3/dist-packages"):
        if os.path.isdir(extra):
            sys.path.append(extra)
    os.chdir(CODE_DIR)
    send({"t": "ready"})
    fn = None
    pool = None
    while True:
        try:
            header, payload = read_frame()
        except EOFError:
            return
        kind = header.get("t")
        if kind == "init":
            try:
                os.environ.update(header.get("env") or {})
                setup_logging()
                fn = Function(header)
                if header.get("concurrency", 1) > 1:
                    from concurrent.futures import ThreadPoolExecutor

                    pool = ThreadPoolExecutor(max_workers=header["concurrency"])
                send({"t": "inited"})
            except BaseException as exc:  # noqa: BLE001 - any import failure is the function's init error
                sys.stdout.flush()
                sys.stderr.flush()
                send({"t": "init_error", "error": wire_error(exc, "InitError" if isinstance(exc, SyntaxError) else None)})
        elif kind == "invoke":
            # A call sent behind its init starts its clock now, when it can run.
            budget = header.get("budgetMs")
            if budget is not None:
                header["deadline"] = time.time() * 1000 + budget
            if fn is None:
                # Its init failed: the host has failed the call already and stops this instance.
                continue
            if pool is not None:
                pool.submit(invoke, fn, header, payload)
            elif header.get("http"):
                # Streaming calls wait for the host's acks, which this loop must stay free to read.
                threading.Thread(target=invoke, args=(fn, header, payload), daemon=True).start()
            else:
                invoke(fn, header, payload)
        elif kind == "http_ack":
            call = _http_calls.get(header["id"])
            if call is not None:
                call.acked(header["n"])
        elif kind == "http_cancel":
            call = _http_calls.get(header["id"])
            if call is not None:
                call.cancel()


def invoke(fn, header, payload):
    rid = header["id"]
    _current.id = rid
    init = fn.init
    context = Context(
        request_id=rid,
        aws_request_id=rid,
        function_name=init["functionName"],
        function_version=init["functionVersion"],
        memory_limit_in_mb=init["memoryMb"],
        deadline=header["deadline"],
        invoked_function_arn="arn:nimbus:function:%s" % init["functionName"],
    )
    import logging

    context["logger"] = logging.getLogger()
    try:
        if header.get("http") == "wsgi":
            multithread = fn.init.get("concurrency", 1) > 1
            run_wsgi(fn, rid, json.loads(payload), context, multithread)
            sys.stdout.flush()
            sys.stderr.flush()
            send({"t": "result", "id": rid, "ok": True})
            return
        event = json.loads(payload) if payload else {}
        value = fn.call(event, context)
        try:
            body = json.dumps(value).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError("result is not JSON-serialisable: %s" % exc) from None
        sys.stdout.flush()
        sys.stderr.flush()
        send({"t": "result", "id": rid, "ok": True}, body)
    except Exception as exc:  # noqa: BLE001 - the function's own error, reported to the caller
        sys.stdout.flush()
        sys.stderr.flush()
        send({"t": "result", "id": rid, "ok": False, "error": wire_error(exc)})
    finally:
        _current.id = None


if __name__ == "__main__":
    main()
