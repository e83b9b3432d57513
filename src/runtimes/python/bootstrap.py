"""The Python runtime: runs inside the sandbox, loads one function and serves invocations sent by
the host over fd 3. It must not import platform code; the sandbox mounts nothing else.

What users see follows Lambda's Python runtime interface client (awslambdaric): handler strings
(`file.function`, `dir/file.function`, `pkg.module.function`, the module file's name need not be
an identifier), init errors (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`,
`Runtime.UserCodeSyntaxError`, `Runtime.MalformedHandlerName`, `Runtime.BuiltInModuleConflict`),
errors written to the log as `[ERROR] Type: message` with the traceback, the `logging` format, the
context object and `_X_AMZN_TRACE_ID`; Function Compute's context fields are on the same object.

Handler styles:
  - Lambda / Function Compute: handler(event, context)
  - Qinling: main(name='World', **kwargs): the event's keys become keyword arguments, and a
    parameter named `context` receives the context.

Calls of a `wsgi` HTTP trigger run the handler as a PEP 3333 application,
handler(environ, start_response); the response body is streamed to the host in `http_chunk`
frames, paced by the host's `http_ack`s, so a large body is never held in memory.

sys.path is Lambda's: the code dir, then the layers' `/opt/python/lib/python3.X/site-packages` and
`/opt/python`, then the runtime-provided packages (boto3 and what it needs, linked by the host
into `python-packages` beside this runtime's directory), then the standard library. Nothing else
of the host's installed packages is importable.

Frames (same as src/runtimes/protocol.ts): u32 BE length of the rest | u32 BE header length |
header JSON | payload bytes.
"""

import binascii
import io
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback

CODE_DIR = os.environ.get("NIMBUS_CODE_DIR", "/code")
RUNTIME_FILE = os.path.abspath(__file__)
# Linked by the host: exactly the packages the platform provides (see src/sandbox/python-packages.ts).
PROVIDED_DIR = os.path.join(os.path.dirname(os.path.dirname(RUNTIME_FILE)), "python-packages")
# Lambda indents traceback lines in the log with no-break spaces, and joins an entry's lines with
# carriage returns so the entry stays one record where output is split into lines.
ERROR_LOG_INDENT = "\u00a0"
ENTRY_LINE_BREAK = "\r"

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


class Obj:
    """A plain object with the given attributes (Lambda's context parts, Function Compute's metas)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self.__dict__.items()))


class CognitoIdentity(Obj):
    """context.identity: Lambda's Cognito identity (None fields when the caller sent none)."""


class ClientContext(Obj):
    """context.client_context: what the caller sent in X-Amz-Client-Context."""


class Client(Obj):
    """context.client_context.client: the calling mobile app."""


CLIENT_FIELDS = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")


class Context(dict):
    """Lambda's context (attributes), Function Compute's (`request_id`, `function`, `service`,
    `credentials`, `region`, `account_id`) and Qinling-style item access, on one object."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def get_remaining_time_in_millis(self):
        return max(0, int(self["deadline"] - time.time() * 1000))

    def log(self, msg):
        """Lambda's context.log: writes the text as it is (no newline added)."""
        sys.stdout.write(str(msg))


class FaultError(Exception):
    """An error the runtime reports with one of Lambda's `Runtime.*` types."""

    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def _is_runtime_frame(filename):
    # The runtime's own frames and the import machinery between it and the function's module.
    return filename == RUNTIME_FILE or filename.startswith("<frozen importlib") or filename.endswith(
        os.sep + os.path.join("importlib", "__init__.py")
    )


def user_frames(tb):
    """traceback.format_list entries of a traceback, from the function's first frame on."""
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if not _is_runtime_frame(frame.filename):
            return traceback.format_list(frames[i:])
    return []


def error_result(exc):
    """Lambda's error document fields of an exception: errorType, errorMessage, stackTrace."""
    if isinstance(exc, FaultError):
        return {"errorType": exc.error_type, "errorMessage": exc.message, "stackTrace": exc.trace}
    return {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": user_frames(exc.__traceback__)}


def wire_error(result):
    """The host's error shape: the stack is the traceback's frames, one `  File ...` entry each."""
    error = {"type": result["errorType"], "message": result["errorMessage"]}
    if result["stackTrace"]:
        error["stack"] = "Traceback (most recent call last):\n" + "".join(
            entry if entry.endswith("\n") else entry + "\n" for entry in result["stackTrace"]
        )
    return error


def _indent_with_nbsp(line):
    stripped = line.lstrip(" ")
    return ERROR_LOG_INDENT * (len(line) - len(stripped)) + stripped


def error_log_text(result, request_id):
    """An unhandled error as Lambda's runtime writes it to the log (one entry)."""
    if _log_format == "JSON":
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "log_level": "ERROR",
            "errorMessage": result["errorMessage"],
            "errorType": result["errorType"],
            "requestId": request_id or "",
            "stackTrace": result["stackTrace"],
        }
        return json.dumps(record, ensure_ascii=sys.version_info < (3, 12)) + "\n"
    head = "[ERROR]"
    if result["errorType"]:
        head += " " + result["errorType"]
    if result["errorMessage"]:
        head += (":" if result["errorType"] else "") + " " + result["errorMessage"]
    lines = [head, "Traceback (most recent call last):"]
    for entry in result["stackTrace"]:
        if entry == "":
            lines.append("")
        else:
            lines.extend(_indent_with_nbsp(line) for line in entry.splitlines())
    return ENTRY_LINE_BREAK.join(lines).replace("\n", ENTRY_LINE_BREAK) + "\n"


def log_entry(text, request_id):
    """Sends one log entry for the call, after what its thread printed so far."""
    sys.stdout.flush()
    send({"t": "log", "id": request_id, "s": "stdout", "d": text, "ts": int(time.time() * 1000)})


def load_handler(handler):
    """Resolves a handler string the way Lambda's Python runtime does: split at the last dot,
    `/` in the module part becomes `.`, and the module is imported by name (so `my-func.handler`
    loads my-func.py)."""
    import importlib

    try:
        module_name, attr = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError(FaultError.MALFORMED_HANDLER_NAME, "Bad handler '%s': %s" % (handler, exc)) from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise FaultError(
                FaultError.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module %s as a handler module" % module_name,
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            FaultError.IMPORT_MODULE_ERROR, "Unable to import module '%s': %s" % (module_name, exc)
        ) from None
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise FaultError(
            FaultError.USER_CODE_SYNTAX_ERROR, "Syntax error in module '%s': %s" % (module_name, exc), trace
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise FaultError(
            FaultError.HANDLER_NOT_FOUND, "Handler '%s' missing on module '%s'" % (attr, module_name)
        ) from None


class Function:
    def __init__(self, init):
        self.init = init
        self.handler = load_handler(init["handler"])
        self.style, self.params, self.var_kw = self._style()
        # Invoked ARN -> the context fields every call of it shares (see context_fields).
        self.context_fields = {}

    def _style(self):
        import inspect

        try:
            sig = inspect.signature(self.handler)
        except (TypeError, ValueError):
            return "lambda", ["event", "context"], False
        params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        names = [p.name for p in params]
        var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        var_pos = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
        required = [p for p in params if p.default is p.empty]
        if var_pos or names[:1] == ["event"] or (len(required) == 2 and names[0] != "context" and not var_kw):
            return "lambda", names if not var_pos else ["event", "context"], var_kw
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


def _json_default(value):
    # Lambda encodes Decimal (what DynamoDB returns) as a JSON number. The module is loaded only if
    # the function loaded it.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        if value.is_nan():
            return float("nan")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def marshal_result(value):
    """The result as JSON bytes, as Lambda's runtime encodes it (non-ASCII escaped before 3.12)."""
    try:
        text = json.dumps(value, default=_json_default, ensure_ascii=sys.version_info < (3, 12))
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
        raise FaultError(FaultError.MARSHAL_ERROR, "Unable to marshal response: %s" % exc) from None
    return text.encode("utf-8")


def unmarshal_event(payload):
    try:
        return json.loads(payload) if payload else {}
    except Exception as exc:  # noqa: BLE001
        raise FaultError(FaultError.UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % exc) from None


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


_HEX = frozenset("0123456789abcdefABCDEF")


def unquote_to_bytes(text):
    """Percent-decoding to bytes (urllib.parse's, without its import cost on every cold start)."""
    parts = text.split("%")
    out = bytearray(parts[0].encode("utf-8"))
    for part in parts[1:]:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out.append(int(part[:2], 16))
            out += part[2:].encode("utf-8")
        else:
            out += b"%" + part.encode("utf-8")
    return bytes(out)


def _latin1_path(encoded):
    """A percent-encoded URL path as PEP 3333 wants it: the raw bytes, each as one latin-1 char."""
    return unquote_to_bytes(encoded).decode("latin-1")


def wsgi_environ(request, context, multithread):
    """The PEP 3333 environ of an HTTP trigger request, with Function Compute's `fc.*` keys."""
    body = binascii.a2b_base64(request["body"]) if request["body"] else b""
    host = request["host"]
    script_name = request.get("scriptName") or ""
    query = request["query"]
    environ = {
        "REQUEST_METHOD": request["method"],
        # Path routing mounts the function at /fn/<name>: frameworks build URLs under it.
        "SCRIPT_NAME": _latin1_path(script_name),
        "PATH_INFO": _latin1_path(request["path"]),
        "QUERY_STRING": query,
        "SERVER_NAME": host.rsplit(":", 1)[0] if not host.endswith("]") else host,
        "SERVER_PORT": str(request["port"]),
        "SERVER_PROTOCOL": request["protocol"],
        "REMOTE_ADDR": request["sourceIp"],
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request["scheme"],
        "wsgi.input": io.BytesIO(body),
        # The whole body is there: readers need not rely on CONTENT_LENGTH.
        "wsgi.input_terminated": True,
        "wsgi.errors": ErrorsStream(),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "nimbus.context": context,
        # Function Compute's names, so its WSGI handlers run unchanged.
        "fc.context": context,
        "fc.request_uri": script_name + request["path"] + ("?" + query if query else ""),
    }
    for name, value in request["headers"]:
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "content-length" or "_" in name:
            # A header named with `_` would pass for its `-` twin (HTTP_X_USER): dropped, as
            # gunicorn and nginx drop it.
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
        else:
            environ[key] = value
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


_log_format = "TEXT"
# The request id of the latest call, for output of threads the function started itself (Lambda
# tags such lines with the current request too).
_latest_id = None

_RESERVED_RECORD_FIELDS = frozenset(
    (
        "name msg args levelname levelno pathname filename module exc_info exc_text stack_info lineno "
        "funcName created msecs relativeCreated thread threadName processName process taskName "
        "aws_request_id tenant_id _frame_type"
    ).split()
)


def setup_logging(env):
    """Lambda's root `logging` handler: `[LEVEL]\\t<UTC time>\\t<request id>\\t<message>`, one log
    entry per record, or JSON lines when AWS_LAMBDA_LOG_FORMAT is JSON. The root level stays
    Python's WARNING unless AWS_LAMBDA_LOG_LEVEL names one, as on Lambda."""
    import logging

    global _log_format
    _log_format = "JSON" if (env.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON" else "TEXT"
    level = {"TRACE": "DEBUG"}.get(env.get("AWS_LAMBDA_LOG_LEVEL") or "", env.get("AWS_LAMBDA_LOG_LEVEL") or "")
    level = level.upper()

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _current.id or _latest_id or ""
            record.tenant_id = None
            return True

    class JsonFormatter(logging.Formatter):
        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc = record.exc_info
            fields = {
                "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ"),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc[2]) if exc else None,
                "errorType": exc[0].__name__ if exc else None,
                "errorMessage": str(exc[1]) if exc else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno) if exc else None,
            }
            fields.update(
                (k, v) for k, v in record.__dict__.items() if k not in _RESERVED_RECORD_FIELDS and k not in fields
            )
            fields = {k: v for k, v in fields.items() if v is not None}
            return json.dumps(fields, ensure_ascii=False, default=str) + "\n"

    class LambdaHandler(logging.Handler):
        def emit(self, record):
            try:
                text = self.format(record)
                # One record is one log entry, its own line breaks included.
                body = text[:-1] if text.endswith("\n") else text
                log_entry(body.replace("\n", ENTRY_LINE_BREAK) + "\n", _current.id)
            except Exception:  # noqa: BLE001 - logging's own error report
                self.handleError(record)

    logging.Formatter.converter = time.gmtime
    handler = LambdaHandler()
    if _log_format == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
            )
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    if level in logging._nameToLevel:
        root.setLevel(level)
    root.handlers = [handler]


def apply_rlimits():
    # Only the plain-process sandbox sets this; under cgroups the kernel enforces memory.
    limit = os.environ.get("NIMBUS_RLIMIT_AS_BYTES")
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def preload():
    # Modules every specialisation needs, loaded while the sandbox waits in the pre-warmed pool
    # rather than on a cold start's clock, and before the function's directories are on sys.path
    # (so a function's own `logging.py` cannot replace the runtime's).
    import concurrent.futures  # noqa: F401
    import importlib  # noqa: F401
    import inspect  # noqa: F401
    import logging  # noqa: F401


def function_sys_path():
    """Lambda's order: code, layers (/opt/python/lib/python3.X/site-packages, /opt/python), the
    runtime-provided packages, the standard library. The runtime's own directory is not on it."""
    # Layers are at /opt in a sandbox; a driver that mounts them elsewhere names the place.
    opt = os.environ.get("NIMBUS_OPT_DIR") or "/opt"
    layers = [
        os.path.join(opt, "python/lib/python%d.%d/site-packages" % sys.version_info[:2]),
        os.path.join(opt, "python"),
    ]
    own = os.path.dirname(RUNTIME_FILE)
    stdlib = [p for p in sys.path if p and p != own and p not in layers and p not in (CODE_DIR, PROVIDED_DIR)]
    return [CODE_DIR, *layers, PROVIDED_DIR, *stdlib]


def specialise(header):
    """Applies an `init`: the environment, logging, sys.path, then loads the handler."""
    import importlib

    tz = os.environ.get("TZ")
    os.environ.update(header.get("env") or {})
    if os.environ.get("TZ") != tz:
        # The time module read TZ when the runtime started: a function's own zone needs a re-read.
        time.tzset()
    setup_logging(os.environ)
    sys.path[:] = function_sys_path()
    # A pre-warmed runtime started before its code arrived: forget cached directory listings.
    for path in sys.path:
        sys.path_importer_cache.pop(path, None)
    importlib.invalidate_caches()
    return Function(header)


def main():
    preload()
    sys.stdout = ChannelWriter("stdout")
    sys.stderr = ChannelWriter("stderr")
    apply_rlimits()
    # Until init, nothing of the function's is importable and nothing of the runtime's directory.
    sys.path[:] = [p for p in sys.path if p and p != os.path.dirname(RUNTIME_FILE)]
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
                fn = specialise(header)
                if header.get("concurrency", 1) > 1:
                    from concurrent.futures import ThreadPoolExecutor

                    pool = ThreadPoolExecutor(max_workers=header["concurrency"])
                send({"t": "inited"})
            except BaseException as exc:  # noqa: BLE001 - any import failure is the function's init error
                sys.stderr.flush()
                result = error_result(exc)
                log_entry(error_log_text(result, None), None)
                send({"t": "init_error", "error": wire_error(result)})
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


def fresh_trace_id():
    """An X-Ray trace header for a call that came without one."""
    random = os.urandom(20).hex()
    return "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), random[:24], random[24:])


def client_context_of(text):
    """context.client_context from the caller's client context JSON, None when there is none."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
    except ValueError as exc:
        raise FaultError(
            FaultError.CONTEXT_UNMARSHAL_ERROR, "Unable to parse Client Context JSON: %s" % exc
        ) from None
    client = data.get("client")
    if isinstance(client, dict):
        client = Client(**{field: client.get(field) for field in CLIENT_FIELDS})
    elif client is not None:
        client = Client(**{field: None for field in CLIENT_FIELDS})
    return ClientContext(client=client, custom=data.get("custom"), env=data.get("env"))


def context_fields(init, arn):
    """The context fields that stay the same for every call of one invoked ARN: Lambda's (values
    from the environment, as Lambda's runtime reads them) and Function Compute's."""
    import logging

    env = os.environ
    arn_parts = arn.split(":")
    name = env.get("AWS_LAMBDA_FUNCTION_NAME") or init["functionName"]
    version = env.get("AWS_LAMBDA_FUNCTION_VERSION") or init["functionVersion"]
    qualifier = arn_parts[7] if len(arn_parts) > 7 else version
    return {
        "function_name": name,
        "function_version": version,
        "memory_limit_in_mb": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or str(init["memoryMb"]),
        "invoked_function_arn": arn,
        "log_group_name": env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream_name": env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "tenant_id": None,
        "logger": logging.getLogger(),
        # Function Compute
        "region": env.get("AWS_REGION") or (arn_parts[3] if len(arn_parts) > 3 else ""),
        "account_id": arn_parts[4] if len(arn_parts) > 4 else "",
        "credentials": Obj(
            access_key_id=env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            security_token=env.get("ALIBABA_CLOUD_SECURITY_TOKEN"),
        ),
        "function": Obj(
            name=name,
            handler=init["handler"],
            memory=init["memoryMb"],
            timeout=init["timeoutSec"],
            initializer=None,
            version_id=version,
            qualifier=qualifier,
        ),
        "service": Obj(name=name, log_project="", log_store="", qualifier=qualifier, version_id=version),
        "log_project": "",
        "log_store": "",
    }


def make_context(fn, header, rid):
    """The context of one call: the invoked ARN's fixed fields, the call's own, and Qinling-style
    item access to all of them."""
    arn = header.get("arn") or fn.init.get("functionArn") or ""
    fields = fn.context_fields.get(arn)
    if fields is None:
        if len(fn.context_fields) >= 32:  # an ARN per version or alias called: a handful
            fn.context_fields.clear()
        fields = fn.context_fields[arn] = context_fields(fn.init, arn)
    context = Context(fields)
    context["aws_request_id"] = context["request_id"] = rid
    context["deadline"] = header["deadline"]
    context["identity"] = CognitoIdentity(cognito_identity_id=None, cognito_identity_pool_id=None)
    context["client_context"] = client_context_of(header.get("cc"))
    return context


def invoke(fn, header, payload):
    global _latest_id
    rid = header["id"]
    _current.id = rid
    _latest_id = rid
    os.environ["_X_AMZN_TRACE_ID"] = header.get("trace") or fresh_trace_id()
    try:
        context = make_context(fn, header, rid)
        if header.get("http") == "wsgi":
            multithread = fn.init.get("concurrency", 1) > 1
            run_wsgi(fn, rid, json.loads(payload), context, multithread)
            sys.stdout.flush()
            sys.stderr.flush()
            send({"t": "result", "id": rid, "ok": True})
            return
        body = marshal_result(fn.call(unmarshal_event(payload), context))
        sys.stdout.flush()
        sys.stderr.flush()
        send({"t": "result", "id": rid, "ok": True}, body)
    except Exception as exc:  # noqa: BLE001 - the function's own error, reported to the caller
        sys.stderr.flush()
        result = error_result(exc)
        log_entry(error_log_text(result, rid), rid)
        send({"t": "result", "id": rid, "ok": False, "error": wire_error(result)})
    finally:
        _current.id = None


if __name__ == "__main__":
    main()
