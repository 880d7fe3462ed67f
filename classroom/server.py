"""`corridor classroom`: check the address, then hand over to Solara's server.

The page binds to 127.0.0.1 unless told otherwise: a lecturer who wants a whole class on one
network to connect passes `--host 0.0.0.0` and is warned that anyone on that network can
then open the page. A bad port or one in use is one line and exit status 2, before Solara
starts (Solara's own message for a port in use is a traceback).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from classroom.assets import cache_dir, ensure_assets, missing
from classroom.words import LANGUAGES
from model.errors import UserError

APP = Path(__file__).resolve().with_name("app.py")
ROOT = APP.parents[1]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
#: A closed tab's session is dropped after this long (Solara's default keeps it 24 h).
CULL_TIMEOUT = "5m"


class ClassroomError(UserError):
    """A mistake in `corridor classroom`'s options: one line, exit status 2."""


def parse_port(text: str | int) -> int:
    try:
        port = int(text)
    except (TypeError, ValueError):
        raise ClassroomError(
            f"--port must be a whole number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise ClassroomError(f"--port must be a whole number from 1 to 65535, got {port}")
    return port


def check_port_free(host: str, port: int) -> None:
    """Fail now, in one line, if the port cannot be bound (in use, or not ours to use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as the server will: a port a stopped server left in TIME_WAIT is free to reuse
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise ClassroomError(f"port {port} on {host} is in use (another classroom page?);"
                                     f" choose another with --port") from None
            raise ClassroomError(f"cannot listen on {host} port {port}: "
                                 f"{exc.strerror or exc}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version"]


def server_environment(language: str | None, base: dict | None = None) -> dict:
    """Solara's settings for a classroom: local browser files, no telemetry, short culling."""
    from classroom.app import LANGUAGE_VARIABLE

    env = dict(os.environ if base is None else base)
    env.setdefault("SOLARA_ASSETS_PROXY_CACHE_DIR", str(cache_dir()))
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", CULL_TIMEOUT)
    # Solara warns at length on every plain-http page load that it cannot set a cross-site
    # cookie; a classroom page is not embedded in other sites, so the warning is only noise.
    quiet = "ignore:Cookies with samesite=none require https:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), quiet]))
    env.pop(LANGUAGE_VARIABLE, None)
    if language:
        env[LANGUAGE_VARIABLE] = language
    return env


def prepare(host: str, port: str | int, language: str | None) -> tuple[list[str], dict]:
    """Check the options and the browser files; the command and environment to serve with."""
    port = parse_port(port)
    if language is not None and language not in LANGUAGES:
        raise ClassroomError(f"--lang must be one of {', '.join(LANGUAGES)}, got {language!r}")
    check_port_free(host, port)
    return server_command(host, port), server_environment(language)


def serve(host: str = DEFAULT_HOST, port: str | int = DEFAULT_PORT,
          language: str | None = None) -> None:
    """Serve the page until interrupted (this process becomes Solara's server)."""
    command, env = prepare(host, port, language)
    if not is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach this machine on port "
              f"{command[command.index('--port') + 1]} can open the page and run models on it",
              file=sys.stderr)
    fetch_missing_assets(Path(env["SOLARA_ASSETS_PROXY_CACHE_DIR"]))
    print(f"classroom page: http://{'127.0.0.1' if host == '0.0.0.0' else host}:"
          f"{command[command.index('--port') + 1]}/  (Ctrl-C stops it)", flush=True)
    os.execve(sys.executable, command, env)


def fetch_missing_assets(cache: Path) -> None:
    """Fetch Solara's browser files if some are missing; without a network, say so and go on
    (a browser with internet access fetches them from the CDN itself)."""
    if not missing(cache):
        return
    try:
        ensure_assets(cache, log=lambda line: print(line, file=sys.stderr))
    except OSError as exc:
        print(f"warning: Solara's browser files are not in {cache} and could not be fetched "
              f"({exc}); the page needs access to cdn.jsdelivr.net instead. "
              f"'make assets' fetches them.", file=sys.stderr)


# ------------------------------------------------ a server for tests and benchmarks


def start_in_background(port: int, log: Path, language: str | None = None) -> subprocess.Popen:
    """`corridor classroom` on 127.0.0.1:`port` in its own process group, output to `log`.

    Its own process group lets `stop` end the server and every child it started, and
    nothing else.
    """
    command = [sys.executable, "-m", "corridor.cli", "classroom", "--port", str(port)]
    if language:
        command += ["--lang", language]
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> float:
    """Seconds until the page answers; RuntimeError if the server exits or never answers."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the classroom server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the classroom server did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started by `start_in_background`, and its children."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
