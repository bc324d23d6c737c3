#!/usr/bin/env python3
"""DSVM activity agent: tells the control plane when someone last used this VM, and whether it is busy.

Runs as a systemd service under the image's system python3 (Ubuntu 22.04: Python 3.10), standard library
only. Every `interval_seconds` it posts

    POST {api_url}/vms/{vm_name}/activity        Authorization: Bearer <agent token>
    {"last_input": {"ssh": iso|null, "jupyter": iso|null, "rstudio": iso|null},
     "busy": {"kernels": int, "gpu_percent": float|null, "load1": float|null}}

`last_input` is the time of the last user input per channel; `busy` holds the highest figures seen in the
samples taken every `sample_seconds` since the last post the API accepted. A source that cannot be read
reports null (kernels: 0); an API that is down is tried again at the next tick. Reports hold times and
counters only: no user names, commands, paths or notebook names. Sources and caveats: docs/activity-agent.md.

  dsvm_agent.py run [--config PATH]        the service
  dsvm_agent.py report [--config PATH]     collect once and print the report (posts nothing)
  dsvm_agent.py setup-jupyterhub           register the agent as a JupyterHub service (cloud-init, once)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import ipaddress
import json
import logging
import os
import pwd
import re
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("dsvm-agent")

DEFAULT_CONFIG = "/etc/dsvm-agent/config.json"
HUB_TOKEN_FILE = "/etc/dsvm-agent/jupyterhub-token"  # noqa: S105 (a path, not a secret)
# The DSVM's JupyterHub config file (Microsoft's Ubuntu DSVM quickstart names it).
HUB_CONFIG = "/etc/jupyterhub/jupyterhub_config.py"
HTTP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 10.0
# A time later than now by more than this is not evidence of anything (a clock jump); it is dropped.
FUTURE_SLACK = timedelta(seconds=60)


# ---------------------------------------------------------------------------------------------------------
# Collectors: pure functions over what a source returned, so tests feed them recorded outputs.
# ---------------------------------------------------------------------------------------------------------

# Terminal lines as `who` prints them (pts/3, tty1, ttyS0); X displays (":0") have no device to look at.
TTY_LINE = re.compile(r"pts/\d{1,6}|tty[A-Za-z]{0,4}\d{1,4}")


def tty_lines(who_output: str) -> list[str]:
    """The terminal of every login session `who` lists (its second column)."""
    lines = []
    for row in who_output.splitlines():
        fields = row.split()
        if len(fields) >= 2 and TTY_LINE.fullmatch(fields[1]):
            lines.append(fields[1])
    return lines


def ssh_last_input(who_output: str, atimes: Mapping[str, float]) -> datetime | None:
    """Last terminal input of any login session: the newest access time of the sessions' terminals.

    The kernel sets a terminal's atime when a process reads input from it (at most every 8 s), which is
    what `w` and `who -u` report as idle time; output, or an open but silent connection, does not touch it.
    """
    times = [atimes[line] for line in tty_lines(who_output) if line in atimes]
    return from_epoch(max(times)) if times else None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as JupyterHub writes it ('2026-05-04T09:12:44.123456Z'); naive means UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def jupyter_last_activity(users: Iterable[object]) -> datetime | None:
    """The newest `last_activity` of any user or any of their servers in a `GET /hub/api/users` answer."""
    times: list[datetime] = []
    for user in users:
        if not isinstance(user, dict):
            continue
        candidates = [user.get("last_activity")]
        servers = user.get("servers")
        if isinstance(servers, dict):
            candidates += [s.get("last_activity") for s in servers.values() if isinstance(s, dict)]
        times += [t for t in map(parse_time, candidates) if t is not None]
    return max(times) if times else None


def busy_kernel_count(kernels: object) -> int:
    """Kernels a Jupyter server reports executing (`GET /api/kernels`, execution_state 'busy')."""
    if not isinstance(kernels, list):
        return 0
    return sum(1 for k in kernels if isinstance(k, dict) and k.get("execution_state") == "busy")


def singleuser_url(environ: bytes) -> str | None:
    """A Jupyter server's own address from its process environment (JUPYTERHUB_SERVICE_URL), loopback only.

    JupyterHub (2.0 and later) passes every single-user server the URL it listens on. The agent asks that
    address directly: a request through JupyterHub's proxy would itself count as the user's activity.
    """
    for entry in environ.split(b"\0"):
        key, _, value = entry.partition(b"=")
        if key == b"JUPYTERHUB_SERVICE_URL":
            url = value.decode("utf-8", "replace")
            if not is_loopback_url(url):
                return None
            return url if url.endswith("/") else url + "/"
    return None


@dataclasses.dataclass(frozen=True)
class RSession:
    """What RStudio Server keeps about one session (files under <session>/properites/, sic)."""

    last_used: str | None  # milliseconds since the epoch, written when the session starts or ends
    executing: str | None  # "1" while R runs a console command, "0" when its prompt is back
    executing_mtime: float | None  # when `executing` was last written: the last console command
    running: str | None  # "1" while the session's rsession process runs


def rstudio_activity(sessions: Iterable[RSession]) -> tuple[datetime | None, int]:
    """(last user input in any RStudio session, how many running sessions are executing R code)."""
    times: list[datetime] = []
    executing = 0
    for session in sessions:
        try:
            if session.last_used:
                times.append(from_epoch(float(session.last_used) / 1000))
        except (ValueError, OverflowError, OSError):
            pass
        if session.executing_mtime is not None:
            times.append(from_epoch(session.executing_mtime))
        if session.running == "1" and session.executing == "1":
            executing += 1
    return (max(times) if times else None), executing


def gpu_percent(csv_output: str) -> float | None:
    """The busiest GPU's utilisation from `nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits`.

    One line per GPU; a GPU that cannot tell prints '[N/A]' or '[Not Supported]' and is left out.
    """
    values = []
    for line in csv_output.splitlines():
        try:
            value = float(line.strip())
        except ValueError:
            continue
        if 0 <= value <= 100:
            values.append(value)
    return max(values) if values else None


def load1(loadavg: str) -> float | None:
    """The one-minute load average, the first field of /proc/loadavg."""
    fields = loadavg.split()
    try:
        value = float(fields[0])
    except (IndexError, ValueError):
        return None
    return value if value >= 0 else None


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def is_loopback_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Busy:
    kernels: int = 0
    gpu_percent: float | None = None
    load1: float | None = None

    def merge(self, other: Busy) -> Busy:
        """The higher of two samples, figure by figure (a null figure yields to a known one)."""
        return Busy(
            kernels=max(self.kernels, other.kernels),
            gpu_percent=higher(self.gpu_percent, other.gpu_percent),
            load1=higher(self.load1, other.load1),
        )


def higher(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def report_body(last_input: Mapping[str, datetime | None], busy: Busy, now: datetime) -> dict[str, Any]:
    """The body of `POST /vms/{name}/activity`, exactly; a time in the future is no evidence and is dropped."""

    def iso(t: datetime | None) -> str | None:
        if t is None or t > now + FUTURE_SLACK:
            return None
        return t.astimezone(timezone.utc).isoformat(timespec="seconds")

    return {
        "last_input": {channel: iso(last_input.get(channel)) for channel in ("ssh", "jupyter", "rstudio")},
        "busy": {
            "kernels": busy.kernels,
            "gpu_percent": None if busy.gpu_percent is None else round(busy.gpu_percent, 1),
            "load1": None if busy.load1 is None else round(busy.load1, 2),
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------


class ConfigError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"config field {field!r}: {problem}")


@dataclasses.dataclass(frozen=True)
class Sources:
    """Where the collectors read; the defaults are the DSVM's."""

    who: str = "who"
    dev: str = "/dev"
    proc: str = "/proc"
    loadavg: str = "/proc/loadavg"
    nvidia_smi: str = "nvidia-smi"
    homes: tuple[str, ...] | None = None  # None: the home directory of every login user (uid 1000 and up)


@dataclasses.dataclass(frozen=True)
class Config:
    api_url: str
    vm_name: str
    token: str
    interval_seconds: int = 300
    sample_seconds: int = 60
    jupyterhub_api_url: str = "http://127.0.0.1:8081/hub/api"
    jupyterhub_token_file: str = HUB_TOKEN_FILE
    sources: Sources = Sources()

    @property
    def activity_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/vms/{urllib.parse.quote(self.vm_name, safe='')}/activity"


VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
TOKEN = re.compile(r"[\x21-\x7e]{1,512}")


def parse_config(raw: object) -> Config:
    """Validate a config file's JSON; a bad field stops the agent with the field's name."""
    if not isinstance(raw, dict):
        raise ConfigError("(file)", "must be a JSON object")
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(unknown[0], "unknown field")
    for name in ("api_url", "vm_name", "token"):
        if not isinstance(raw.get(name), str):
            raise ConfigError(name, "required, a string")
    api_url = raw["api_url"]
    parts = urllib.parse.urlsplit(api_url)
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(api_url))):
        raise ConfigError("api_url", "must be an https URL (plain http only to a loopback address)")
    if not VM_NAME.fullmatch(raw["vm_name"]):
        raise ConfigError("vm_name", "letters, digits and hyphens, 1-64 characters")
    if not TOKEN.fullmatch(raw["token"]):
        raise ConfigError("token", "1-512 printable characters without spaces")
    interval = bounded_int(raw, "interval_seconds", 300, 1, 3600)
    sample = bounded_int(raw, "sample_seconds", min(60, interval), 1, interval)
    hub_url = raw.get("jupyterhub_api_url", Config.jupyterhub_api_url)
    if not isinstance(hub_url, str) or not is_loopback_url(hub_url):
        raise ConfigError("jupyterhub_api_url", "must be an http(s) URL on a loopback address")
    hub_token_file = raw.get("jupyterhub_token_file", HUB_TOKEN_FILE)
    if not isinstance(hub_token_file, str) or not hub_token_file.startswith("/"):
        raise ConfigError("jupyterhub_token_file", "must be an absolute path")
    return Config(
        api_url=api_url,
        vm_name=raw["vm_name"],
        token=raw["token"],
        interval_seconds=interval,
        sample_seconds=sample,
        jupyterhub_api_url=hub_url,
        jupyterhub_token_file=hub_token_file,
        sources=parse_sources(raw.get("sources", {})),
    )


def bounded_int(raw: Mapping[str, object], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(name, f"must be a whole number from {low} to {high}")
    return value


def parse_sources(raw: object) -> Sources:
    if not isinstance(raw, dict):
        raise ConfigError("sources", "must be a JSON object")
    known = {f.name for f in dataclasses.fields(Sources)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"sources.{key}", "unknown field")
        if key == "homes":
            if value is not None and not (isinstance(value, list) and all(isinstance(h, str) for h in value)):
                raise ConfigError("sources.homes", "must be a list of paths, or null")
            values[key] = None if value is None else tuple(value)
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"sources.{key}", "must be a non-empty string")
        else:
            values[key] = value
    return Sources(**values)


def load_config(path: str) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError("(file)", f"not JSON ({exc})") from None
    return parse_config(raw)


# ---------------------------------------------------------------------------------------------------------
# Readers: the I/O at the edge. Each returns what its collector makes of the source.
# ---------------------------------------------------------------------------------------------------------


def run_command(argv: list[str]) -> str:
    # LC_ALL=C: `who` prints dates by locale; only its first two columns are read, but keep them stable.
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=True, env={**os.environ, "LC_ALL": "C"}
    )
    return result.stdout


def read_ssh(sources: Sources) -> datetime | None:
    output = run_command([sources.who])
    atimes: dict[str, float] = {}
    for line in tty_lines(output):
        try:
            atimes[line] = os.stat(os.path.join(sources.dev, line)).st_atime
        except OSError:
            continue  # a stale utmp entry whose terminal is gone
    return ssh_last_input(output, atimes)


def read_gpu(sources: Sources) -> float | None:
    try:
        output = run_command([sources.nvidia_smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"])
    except FileNotFoundError:
        return None  # no NVIDIA driver: a CPU VM
    return gpu_percent(output)


def read_load(sources: Sources) -> float | None:
    return load1(Path(sources.loadavg).read_text())


def login_homes() -> tuple[str, ...]:
    return tuple(sorted({u.pw_dir for u in pwd.getpwall() if 1000 <= u.pw_uid < 65534 and u.pw_dir.startswith("/")}))


# RStudio Server 1.4 and later keep session state under XDG_DATA_HOME; older releases under ~/.rstudio.
RSTUDIO_SESSION_ROOTS = (".local/share/rstudio/sessions/active", ".rstudio/sessions/active")


def read_rsessions(homes: Iterable[str]) -> list[RSession]:
    sessions = []
    for home in homes:
        for root in RSTUDIO_SESSION_ROOTS:
            for session_dir in sorted(Path(home, root).glob("session-*")):
                props = session_dir / "properites"  # RStudio's own spelling
                if props.is_dir():
                    sessions.append(
                        RSession(
                            last_used=read_small(props / "last-used"),
                            executing=read_small(props / "executing"),
                            executing_mtime=mtime(props / "executing"),
                            running=read_small(props / "running"),
                        )
                    )
    return sessions


def read_small(path: Path) -> str | None:
    try:
        with path.open() as f:
            return f.read(64).strip()
    except OSError:
        return None


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def http_json(url: str, token: str, accept: str = "application/json") -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}", "Accept": accept})
    context = loopback_tls() if url.startswith("https:") else None
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT, context=context) as response:
        return json.loads(response.read(4 * 1024 * 1024))


@functools.cache
def loopback_tls() -> ssl.SSLContext:
    # JupyterHub on the DSVM serves a self-signed certificate; every URL read here is on loopback (checked
    # when the config is read and when a server's address is found), so the name is not worth verifying.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA store: nothing is verified against it
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# JupyterHub's paginated form (2.0 and later) with its largest page; a hub on one VM has a few users.
PAGINATION = "application/jupyterhub-pagination+json"
MAX_PAGES = 20


def read_hub_users(api_url: str, token: str) -> list[object]:
    users: list[object] = []
    for _ in range(MAX_PAGES):
        page = http_json(f"{api_url.rstrip('/')}/users?offset={len(users)}&limit=200", token, accept=PAGINATION)
        if isinstance(page, list):  # a hub that ignores the pagination header answers a plain list
            return page
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise ValueError("not a JupyterHub user list")
        users += page["items"]
        pagination = page.get("_pagination")
        if not page["items"] or not isinstance(pagination, dict) or not pagination.get("next"):
            break
    return users


def read_singleuser_urls(proc_dir: str) -> set[str]:
    """Addresses of the Jupyter servers running here, from the environment of processes named jupyter*."""
    urls = set()
    for entry in os.scandir(proc_dir):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "cmdline"), "rb") as f:
                if b"jupyter" not in f.read(4096):
                    continue
            with open(os.path.join(entry.path, "environ"), "rb") as f:
                url = singleuser_url(f.read(256 * 1024))
        except OSError:
            continue  # the process ended, or is not ours to read
        if url:
            urls.add(url)
    return urls


def read_busy_kernels(urls: Iterable[str], token: str) -> int:
    busy = 0
    for url in sorted(urls):
        # no_track_activity: without it the Jupyter server would count this request as the user's activity.
        try:
            busy += busy_kernel_count(http_json(url + "api/kernels?no_track_activity=1", token))
        except (OSError, ValueError) as exc:
            log.warning("kernels of one Jupyter server unreadable: %s", describe(exc))
    return busy


def read_hub_token(path: str) -> str | None:
    try:
        token = Path(path).read_text().strip()
    except OSError:
        return None
    return token or None


def describe(exc: BaseException) -> str:
    """An error's kind and HTTP status, never its text: messages can carry paths with user names."""
    status = getattr(exc, "code", None)
    return f"{type(exc).__name__}{f' {status}' if isinstance(status, int) else ''}"


# ---------------------------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------------------------


def guarded(name: str, read: Callable[[], Any], default: Any) -> Any:
    """A collector that fails reports its default (null), never stops the agent."""
    try:
        return read()
    except Exception as exc:
        log.warning("%s unreadable: %s", name, describe(exc))
        return default


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """The API never redirects the agent; following one would hand the agent token to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


API_OPENER = urllib.request.build_opener(NoRedirects)


class Agent:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.pending = Busy()  # the highest busy figures since the last accepted post

    def sample(self) -> Busy:
        sources = self.config.sources
        return Busy(
            kernels=guarded("jupyter kernels", self.jupyter_busy_kernels, 0)
            + guarded("rstudio", lambda: rstudio_activity(read_rsessions(self.homes()))[1], 0),
            gpu_percent=guarded("gpu", lambda: read_gpu(sources), None),
            load1=guarded("load", lambda: read_load(sources), None),
        )

    def last_input(self) -> dict[str, datetime | None]:
        return {
            "ssh": guarded("ssh", lambda: read_ssh(self.config.sources), None),
            "jupyter": guarded("jupyter", self.jupyter_last_input, None),
            "rstudio": guarded("rstudio", lambda: rstudio_activity(read_rsessions(self.homes()))[0], None),
        }

    def jupyter_last_input(self) -> datetime | None:
        token = read_hub_token(self.config.jupyterhub_token_file)
        return jupyter_last_activity(read_hub_users(self.config.jupyterhub_api_url, token)) if token else None

    def jupyter_busy_kernels(self) -> int:
        token = read_hub_token(self.config.jupyterhub_token_file)
        return read_busy_kernels(read_singleuser_urls(self.config.sources.proc), token) if token else 0

    def homes(self) -> tuple[str, ...]:
        return self.config.sources.homes if self.config.sources.homes is not None else login_homes()

    def report(self) -> dict[str, Any]:
        busy = self.pending.merge(self.sample())
        self.pending = busy
        return report_body(self.last_input(), busy, datetime.now(timezone.utc))

    def post(self, body: dict[str, Any]) -> bool:
        request = urllib.request.Request(
            self.config.activity_url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.config.token}", "Content-Type": "application/json"},
        )
        try:
            with API_OPENER.open(request, timeout=HTTP_TIMEOUT) as response:
                status: int = response.status
        except (OSError, ValueError) as exc:  # URLError, HTTPError and timeouts are OSErrors
            log.warning("report not delivered (%s); next try at the next tick", describe(exc))
            return False
        # urlopen raises HTTPError for 4xx and 5xx, so any status here is a success.
        log.debug("report accepted (%d)", status)
        self.pending = Busy()
        return True

    def run(self, stop: threading.Event) -> None:
        """Post now and every interval; between posts, sample the busy figures every sample_seconds."""
        c = self.config
        next_post = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_post:
                self.post(self.report())
                next_post = max(next_post + c.interval_seconds, time.monotonic())
            else:
                self.pending = self.pending.merge(self.sample())
            stop.wait(min(c.sample_seconds, max(0.0, next_post - time.monotonic())))


# ---------------------------------------------------------------------------------------------------------
# JupyterHub registration (cloud-init runs `setup-jupyterhub` once, at create)
# ---------------------------------------------------------------------------------------------------------

HUB_DROP_IN_NAME = "dsvm_agent_service.py"
HUB_INCLUDE = f'load_subconfig("{HUB_DROP_IN_NAME}")  # dsvm-agent: reads activity (added at VM create)\n'
HUB_SCOPES = ("list:users", "read:users:activity", "read:servers", "access:servers")
HUB_DROP_IN = """\
# Written by the DSVM activity agent's setup (cloud-init, at VM create); loaded by jupyterhub_config.py.
# Registers the agent as a JupyterHub service whose token lists users with their last activity and servers,
# and lets it ask those servers for their kernels' state. The token lives in a root-only file on this VM
# and never leaves it. Without that file the hub starts as if this file were absent.
import pathlib

_dsvm_agent_token = pathlib.Path({token_file!r})
if _dsvm_agent_token.is_file():
    c.JupyterHub.services.append({{"name": "dsvm-agent", "api_token": _dsvm_agent_token.read_text().strip()}})
    c.JupyterHub.load_roles.append({{"name": "dsvm-agent", "scopes": {scopes!r}, "services": ["dsvm-agent"]}})
"""


def setup_jupyterhub(hub_config: Path, token_file: Path, restart: Callable[[], None]) -> bool:
    """Register the agent with the hub: a token of its own, a config drop-in, a hub restart if any changed.

    Returns False (and changes nothing) when this VM has no JupyterHub config. A second run changes nothing.
    """
    if not hub_config.is_file():
        log.info("no JupyterHub config at %s: JupyterHub activity will be reported as null", hub_config)
        return False
    changed = False
    token_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not token_file.exists():
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        changed = True
    drop_in = hub_config.parent / HUB_DROP_IN_NAME
    content = HUB_DROP_IN.format(token_file=str(token_file), scopes=list(HUB_SCOPES))
    if not drop_in.is_file() or drop_in.read_text() != content:
        drop_in.write_text(content)
        changed = True
    text = hub_config.read_text()
    if HUB_INCLUDE not in text:
        with hub_config.open("a") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + HUB_INCLUDE)
        changed = True
    if changed:
        restart()
    return True


def restart_hub() -> None:
    # try-restart: only a hub that is running is restarted; one that starts later reads the drop-in anyway.
    try:
        subprocess.run(["systemctl", "try-restart", "jupyterhub.service"], timeout=120, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("JupyterHub not restarted (%s): it reads the agent's service at its next start", describe(exc))


# ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dsvm_agent.py", description="DSVM activity agent")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "report"):
        command = commands.add_parser(name)
        command.add_argument("--config", default=DEFAULT_CONFIG)
    hub = commands.add_parser("setup-jupyterhub")
    hub.add_argument("--hub-config", default=HUB_CONFIG)
    hub.add_argument("--token-file", default=HUB_TOKEN_FILE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)

    if args.command == "setup-jupyterhub":
        setup_jupyterhub(Path(args.hub_config), Path(args.token_file), restart_hub)
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    agent = Agent(config)
    if args.command == "report":
        print(json.dumps(agent.report(), indent=2))
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("reporting to %s every %d s", config.activity_url, config.interval_seconds)
    agent.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
