# SPDX-License-Identifier: Apache-2.0
"""Test harness for `sekimori proxy` on loopback (stdlib only).

Starts real servers on 127.0.0.1 random high ports inside one temporary
directory and stops them again:

- Upstream: nginx (static files, a fixed-body location, everything else
  through FastCGI to php-fpm running echo.php, which reports method, URI,
  headers, body length and SHA-256, the upstream-side peer port, and can
  sleep or stream a chunked response);
- RawUpstream: a small Python server for what nginx cannot show or do:
  the exact request head bytes received (header order and case), a
  response cut by a TCP reset, an upstream that never answers;
- Proxy: `sekimori proxy -c FILE` with a generated sekimori.conf, its
  master and worker pids, their RSS/VmHWM and open descriptor counts.

Plus a raw HTTP/1.1 client (exact request bytes out, response framing
parsed by hand, chunked bodies decoded and reported as such).

Every wait has a deadline; every process is killed in cleanup.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = "127.0.0.1"


class SkipTest(Exception):
    pass


def free_port():
    """A currently free loopback TCP port (random, high)."""
    s = socket.socket()
    s.bind((LOOP, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, deadline_s=10.0, proc=None):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %r while starting"
                               % proc.returncode)
        try:
            socket.create_connection((LOOP, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not listening after %.1fs" % (port, deadline_s))


def asan():
    """Whether the binary under test is an ASan build (slower, bigger)."""
    v = os.environ.get("SK_ASAN")
    if v in ("0", "1"):
        return v == "1"
    return "ASAN_OPTIONS" in os.environ


# ---------------------------------------------------------------- processes

def children_of(pid):
    """Direct children of `pid`, from /proc/*/stat."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if len(rest) > 1 and int(rest[1]) == pid:
            out.append(int(d))
    return sorted(out)


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2] != "Z"
    except OSError:
        return False


class Tmp:
    """One temporary directory for a test run, removed at the end."""

    def __init__(self, prefix="sk-proxy-it."):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.procs = []

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        os.chmod(p, mode)
        return p

    def spawn(self, argv, log, env=None):
        out = open(self.path(log), "ab")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        out.close()
        self.procs.append(p)
        return p

    def cleanup(self, keep=False):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        if keep:
            print("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------- upstream

NGINX_CONF = """
worker_processes 1;
{user}
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/ngx-tmp/body;
    proxy_temp_path {d}/ngx-tmp/proxy;
    fastcgi_temp_path {d}/ngx-tmp/fastcgi;
    uwsgi_temp_path {d}/ngx-tmp/uwsgi;
    scgi_temp_path {d}/ngx-tmp/scgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    types {{ text/html html; text/plain txt; }}
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location /static/ {{ }}
        location = /fixed {{
            default_type text/plain;
            return 200 "fixed body\\n";
        }}
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {here}/echo.php;
            fastcgi_param REMOTE_PORT $remote_port;
            fastcgi_pass 127.0.0.1:{fpm};
            fastcgi_buffering off;
            # nginx passes no CONTENT_LENGTH for an unbuffered chunked body,
            # and PHP then reads none: buffer it (to disk) first.
            fastcgi_request_buffering on;
            fastcgi_read_timeout 120s;
        }}
    }}
}}
"""

FPM_CONF = """
[global]
pid = {d}/fpm.pid
error_log = {d}/fpm-error.log
daemonize = no
[echo]
{user}
listen = 127.0.0.1:{fpm}
pm = static
pm.max_children = {children}
clear_env = no
catch_workers_output = yes
php_admin_value[post_max_size] = 0
php_admin_value[enable_post_data_reading] = 0
php_admin_value[max_execution_time] = 120
php_admin_value[output_buffering] = 0
php_admin_value[memory_limit] = 64M
"""


class Upstream:
    """nginx + php-fpm (echo.php) on loopback."""

    def __init__(self, tmp, children=8):
        self.tmp = tmp
        self.port = free_port()
        self.fpm_port = free_port()
        d = tmp.dir
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(tmp.path("ngx-tmp", sub), exist_ok=True)
        tmp.write("www/static/small.html",
                  "<html><body>small static page</body></html>\n")
        big = bytes((i * 7 + 13) % 251 for i in range(1 << 16)) * 16
        tmp.write("www/static/big.bin", big)
        self.big_sha = hashlib.sha256(big).hexdigest()
        tmp.write("www/static/huge.bin", big * 16)  # 16 MiB
        root = os.getuid() == 0
        tmp.write("fpm.conf", FPM_CONF.format(
            d=d, fpm=self.fpm_port, children=children,
            user="user = root\ngroup = root" if root else ""))
        tmp.write("nginx.conf", NGINX_CONF.format(
            d=d, port=self.port, fpm=self.fpm_port, here=HERE,
            user="user root;" if root else ""))
        fpm = shutil.which("php-fpm8.2") or shutil.which("php-fpm") \
            or "/usr/sbin/php-fpm8.2"
        argv = [fpm, "-F", "-y", tmp.path("fpm.conf")]
        if root:
            argv.insert(1, "-R")
        self.fpm = tmp.spawn(argv, "fpm.out")
        self.nginx = tmp.spawn(["nginx", "-p", d, "-c", tmp.path("nginx.conf"),
                                "-g", "daemon off;"], "nginx.out")
        wait_port(self.fpm_port, 10, self.fpm)
        wait_port(self.port, 10, self.nginx)
        # The echo must answer before any test relies on it.
        st, _, body = request(self.port, b"GET /echo HTTP/1.1\r\n"
                              b"Host: up\r\nConnection: close\r\n\r\n")
        if st != 200 or b"body_sha256" not in body:
            raise RuntimeError("upstream echo not working: %r %r" % (st, body))


class RawUpstream:
    """A Python HTTP/1.1 upstream for faults and byte-exact echoes.

    GET /raw...     200, body = the request head bytes as received
                    (then the body, if Content-Length), keep-alive
    GET /slow...    reads the head, answers nothing for `hold` seconds
    GET /reset...   200 with Content-Length 100000, 1000 bytes, then RST
                    (application/octet-stream; /reset-text: text/plain)
    GET /ok...      200 "ok\\n"
    GET /close-early   closes without answering
    GET /stale      200 keep-alive, then closes the idle connection 0.2 s later
    GET /badresp    a response with both Content-Length and chunked
    GET /garbage    a response that is not HTTP
    GET /leak-header   200 with an X-Leak header (a phase 3 rule's bait)
    GET /leak-body     200 with a marker in the body (phase 4)
    """

    def __init__(self, hold=30.0):
        self.hold = hold
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOP, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.heads = []
        self.stop = False
        self.conns = 0
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(self.hold + 5)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                head += b"\r\n\r\n"
                self.heads.append(head)
                clen, chunked = 0, False
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        clen = int(line.split(b":", 1)[1])
                    if line.lower().startswith(b"transfer-encoding:") and \
                            b"chunked" in line.lower():
                        chunked = True
                if chunked:
                    # Kept as received (raw framing), up to the last chunk
                    # and an empty trailer section.
                    while b"\r\n0\r\n\r\n" not in b"\r\n" + buf:
                        d = c.recv(65536)
                        if not d:
                            return
                        buf += d
                    end = (b"\r\n" + buf).index(b"\r\n0\r\n\r\n") + 5
                    body, buf = buf[:end], buf[end:]
                else:
                    while len(buf) < clen:
                        d = c.recv(65536)
                        if not d:
                            return
                        buf += d
                    body, buf = buf[:clen], buf[clen:]
                path = head.split(b" ", 2)[1]
                if path.startswith(b"/slow"):
                    time.sleep(self.hold)
                    return
                if path.startswith(b"/reset"):
                    ct = b"text/plain" if path.startswith(b"/reset-text") \
                        else b"application/octet-stream"
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ct +
                              b"\r\nContent-Length: 100000\r\n\r\n"
                              + b"x" * 1000)
                    time.sleep(0.2)
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    c.close()
                    return
                if path.startswith(b"/close-early"):
                    return
                if path.startswith(b"/stale"):
                    # Keep-alive by the headers, then the upstream drops
                    # the idle connection (as its keepalive_timeout would).
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain"
                              b"\r\nContent-Length: 6\r\n\r\nstale\n")
                    time.sleep(0.2)
                    return
                if path.startswith(b"/badresp"):
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"
                              b"5\r\nhello\r\n0\r\n\r\n")
                    continue
                if path.startswith(b"/garbage"):
                    c.sendall(b"HTP/1.1 200 OK\r\n\r\nnonsense")
                    return
                extra = b""
                if path.startswith(b"/raw"):
                    out = head + body
                elif path.startswith(b"/leak-header"):
                    out, extra = b"ok\n", b"X-Leak: skimmer\r\n"
                elif path.startswith(b"/leak-body"):
                    out = b"<html>card list: SKIMMER-LEAK-MARKER</html>\n"
                else:
                    out = b"ok\n"
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          + extra + b"Content-Length: %d\r\n\r\n" % len(out)
                          + out)
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass


# -------------------------------------------------------------------- proxy

class Proxy:
    """`sekimori proxy -c FILE` with a generated config."""

    def __init__(self, tmp, name, upstream_port, rules_text, tls=False,
                 workers=2, extra="", env=None, start=True):
        self.tmp = tmp
        self.name = name
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.dir = tmp.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.rules = os.path.join(self.dir, "rules.conf")
        with open(self.rules, "w") as f:
            f.write(rules_text)
        self.audit = os.path.join(self.dir, "audit.log")
        self.access = os.path.join(self.dir, "access.log")
        self.errlog = os.path.join(self.dir, "error.log")
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.pidfile = os.path.join(self.dir, "proxy.pid")
        lines = ["proxy {",
                 "    listen %s:%d" % (LOOP, self.port)]
        if tls:
            cert, key = make_cert(tmp)
            self.cert = cert
            lines.append("    listen %s:%d tls cert=%s key=%s"
                         % (LOOP, self.tls_port, cert, key))
        lines += ["    upstream %s:%d" % (LOOP, upstream_port),
                  "    rules %s" % self.rules,
                  "    workers %d" % workers,
                  "    audit_log %s" % self.audit,
                  "    access_log %s" % self.access,
                  "    pid_file %s" % self.pidfile]
        lines += ["    " + l.strip() for l in extra.strip().splitlines()
                  if l.strip()]
        lines.append("}")
        self.conf = os.path.join(self.dir, "sekimori.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if env is None and asan():
            # ASan keeps freed blocks resident in its quarantine (256 MiB
            # by default), which would hide or fake memory growth: a
            # smaller one still catches recent use-after-free.
            env = dict(os.environ)
            opts = env.get("ASAN_OPTIONS", "")
            if "quarantine_size_mb" not in opts:
                env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
                    "quarantine_size_mb=16"
        self.env = env
        self.proc = None
        if start:
            self.start()

    def start(self):
        exe = os.environ["SEKIMORI"]
        self.proc = self.tmp.spawn([exe, "proxy", "-c", self.conf],
                                   os.path.join(self.name, "stderr.log"),
                                   env=self.env)
        try:
            wait_port(self.port, 20 if asan() else 10, self.proc)
        except RuntimeError:
            raise RuntimeError("proxy %s did not start:\n%s"
                               % (self.name, self.read_stderr()[-4000:]))
        # Listening is not yet serving: wait for a forwarded answer.
        end = time.monotonic() + 10
        while True:
            try:
                st, _, _ = request(self.port, b"GET /fixed HTTP/1.1\r\n"
                                   b"Host: t\r\nConnection: close\r\n\r\n",
                                   timeout=2)
                if st in (200, 502, 504):
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("proxy %s not answering:\n%s"
                                   % (self.name, self.read_stderr()[-4000:]))
            time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return children_of(self.proc.pid)

    def read_stderr(self):
        try:
            with open(self.stderr, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def write_rules(self, text):
        tmpf = self.rules + ".new"
        with open(tmpf, "w") as f:
            f.write(text)
        os.rename(tmpf, self.rules)

    def audit_records(self):
        """Every line of the audit log, parsed (raises on invalid JSON)."""
        out = []
        if not os.path.exists(self.audit):
            return out
        with open(self.audit, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError as e:
                    raise AssertionError("audit log line %d is not JSON (%s): "
                                         "%r" % (n, e, line[:300]))
        return out

    def usage(self):
        """(pid -> (rss, hwm, fds)) for the master and its workers."""
        out = {}
        for p in [self.proc.pid] + self.workers():
            try:
                out[p] = (proc_status(p, "VmRSS"), proc_status(p, "VmHWM"),
                          fd_count(p))
            except OSError:
                pass
        return out

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError("proxy %s ignored SIGTERM for %ds"
                                     % (self.name, timeout))
        return self.proc.returncode


def make_cert(tmp):
    cert, key = tmp.path("cert.pem"), tmp.path("key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return cert, key


def have_proxy():
    """Whether the binary knows `proxy` (skip, exit 77, when it does not)."""
    exe = os.environ.get("SEKIMORI")
    if not exe or not os.path.exists(exe):
        raise RuntimeError("SEKIMORI is not set to the sekimori binary")
    r = subprocess.run([exe, "proxy", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20)
    text = r.stdout.decode(errors="replace").lower()
    return not ("unknown command" in text or "unknown subcommand" in text
                or "no such command" in text)


# ------------------------------------------------------------------- client

class Response:
    def __init__(self):
        self.status = None
        self.reason = b""
        self.headers = []     # [(name, value)] as received
        self.body = b""
        self.chunked = False
        self.complete = False  # framing finished (not cut by a close)
        self.interim = []      # 1xx statuses seen before the final one
        self.raw_head = b""

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %r %r body=%r>" % (self.status, self.headers,
                                             self.body[:200])


class Conn:
    """One client connection: exact bytes out, responses parsed by hand."""

    def __init__(self, port, timeout=10.0, tls_ctx=None, host=LOOP):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_hostname="localhost")
        self.s = s
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.s.sendall(data)

    def __del__(self):
        self.close()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _fill(self):
        if self.eof:
            return False
        d = self.s.recv(65536)
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ValueError("response line too long")
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                out, self.buf = self.buf, b""
                return out
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, r=None):
        """Reads one response head (status line + headers); None on EOF."""
        r = r or Response()
        line = self._line()
        if line is None:
            return None
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError("bad status line %r" % line)
        r.status = int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else b""
        r.headers = []
        raw = line + b"\r\n"
        while True:
            h = self._line()
            if h is None:
                raise ValueError("EOF in response head")
            raw += h + b"\r\n"
            if h == b"":
                break
            k, _, v = h.partition(b":")
            r.headers.append((k.decode("latin-1"),
                              v.strip().decode("latin-1")))
        r.raw_head = raw
        return r

    def read(self, method=b"GET"):
        """Reads one final response (skipping 1xx); None on a clean EOF
        before any byte."""
        r = Response()
        while True:
            if self.read_head(r) is None:
                return None
            if 100 <= r.status < 200 and r.status != 101:
                r.interim.append(r.status)
                continue
            break
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if method == b"HEAD" or r.status in (204, 304):
            r.complete = True
        elif "chunked" in te:
            r.chunked = True
            body = b""
            while True:
                line = self._line()
                if line is None:
                    break
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        t = self._line()
                        if t is None or t == b"":
                            break
                    r.complete = t == b""
                    break
                d = self._take(size)
                body += d
                if len(d) < size:
                    break
                if self._take(2) != b"\r\n":
                    raise ValueError("bad chunk end")
            r.body = body
        elif cl is not None:
            n = int(cl)
            r.body = self._take(n)
            r.complete = len(r.body) == n
        else:
            while self._fill():
                pass
            r.body, self.buf = self.buf, b""
            r.complete = True
        return r

    def request(self, data, method=None):
        self.send(data)
        if method is None:
            method = data.split(b" ", 1)[0]
        return self.read(method)


def request(port, data, timeout=10.0, tls_ctx=None):
    """One request on a fresh connection: (status, headers, body)."""
    c = Conn(port, timeout, tls_ctx)
    try:
        r = c.request(data)
    finally:
        c.close()
    if r is None:
        return None, [], b""
    return r.status, r.headers, r.body


def get(path, host=b"test.local", extra=b"", close=False):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
            + (b"Connection: close\r\n" if close else b"") + b"\r\n")


def post(path, body, ctype=b"application/x-www-form-urlencoded", extra=b"",
         close=False):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: test.local\r\n"
            b"Content-Type: " + ctype + b"\r\nContent-Length: %d\r\n" % len(body)
            + extra + (b"Connection: close\r\n" if close else b"") + b"\r\n"
            + body)


def read_until_close(sock, deadline_s):
    """Reads until EOF, reset or deadline: (bytes, how) with how in
    'eof', 'reset', 'timeout'."""
    sock.settimeout(0.2)
    end = time.monotonic() + deadline_s
    data = b""
    while time.monotonic() < end:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, "reset"
        except ssl.SSLError:
            return data, "reset"
        if not d:
            return data, "eof"
        data += d
    return data, "timeout"
