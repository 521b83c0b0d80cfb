"""See an iCalendar feed the way a calendar user does: vdirsyncer subscribes, khal lists.

vdirsyncer's ``http`` storage pulls the feed into a local ``filesystem`` storage (a vdir) and khal
lists that vdir. Both come from their own virtualenv, built by ``scripts/lib/calendar-tools.sh``.
Everything runs in ``workdir`` with ``HOME`` pointing there, so no user configuration is read.

vdirsyncer's ``http`` storage replaces each UID with a hash of the item's content, so UIDs seen
through this client say nothing about the feed's UIDs: check UID stability on the raw feed.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".venv-calendar-tools" / "bin"
INSTALL_SCRIPT = "scripts/lib/calendar-tools.sh"
TIMEOUT_S = 60.0
_OUTPUT_TAIL_CHARS = 4000

# khal prints one JSON array per listed day; these are the fields asked of each event.
_KHAL_FIELDS = ("title", "start-long", "end-long", "status", "repeat-symbol", "all-day", "uid")
_LONG_DATETIME = "%Y-%m-%dT%H:%M:%S%z"
_LONG_DATE = "%Y-%m-%d"


@dataclass(frozen=True)
class ClientEvent:
    title: str
    start: datetime  # tz-aware, in the listing's time zone
    end: datetime  # tz-aware; for an all-day event, midnight after its last day
    status: str  # "CONFIRMED", "TENTATIVE", "CANCELLED", or "" when the event has no STATUS
    recurring: bool  # an occurrence of a series (an overridden occurrence included)
    all_day: bool = False


class CalendarClientError(RuntimeError):
    pass


def _tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file():
        raise CalendarClientError(f"{name} is not installed at {path}: run `bash {INSTALL_SCRIPT}` first")
    return path


def _quoted(value: str) -> str:
    if any(c in value for c in "\"'\n\r"):
        raise ValueError(f"cannot write {value!r} into a client configuration file")
    return f'"{value}"'


def _write_configs(workdir: Path, feed_url: str, time_zone: str) -> tuple[Path, Path]:
    vdir = workdir / "calendar"
    vdirsyncer_config = workdir / "vdirsyncer.conf"
    khal_config = workdir / "khal.conf"
    vdirsyncer_config.write_text(
        f"""[general]
status_path = {_quoted(str(workdir / "vdirsyncer-status") + "/")}

[pair feed]
a = "feed_remote"
b = "feed_local"
collections = null
conflict_resolution = "a wins"

[storage feed_remote]
type = "http"
url = {_quoted(feed_url)}
read_only = true

[storage feed_local]
type = "filesystem"
path = {_quoted(str(vdir) + "/")}
fileext = ".ics"
""",
        encoding="utf-8",
    )
    khal_config.write_text(
        f"""[calendars]
[[feed]]
path = {_quoted(str(vdir) + "/")}
type = calendar
readonly = True

[locale]
timeformat = %H:%M
dateformat = {_LONG_DATE}
longdateformat = {_LONG_DATE}
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = {_LONG_DATETIME}
local_timezone = {time_zone}
default_timezone = {time_zone}

[sqlite]
path = {_quoted(str(workdir / "khal.db"))}
""",
        encoding="utf-8",
    )
    return vdirsyncer_config, khal_config


def _environment(workdir: Path, time_zone: str) -> dict[str, str]:
    # No proxy variables: loopback traffic must go straight to the feed.
    return {
        "HOME": str(workdir),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": time_zone,
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
        "XDG_CONFIG_DIRS": str(workdir / "xdg-config"),
        "XDG_DATA_HOME": str(workdir / "xdg-data"),
        "XDG_CACHE_HOME": str(workdir / "xdg-cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return text[-_OUTPUT_TAIL_CHARS:]


def _run(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> str:
    try:
        result = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=cwd,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise CalendarClientError(
            f"{' '.join(args)} timed out after {TIMEOUT_S:.0f} s\n"
            f"stdout:\n{_text(error.stdout)}\nstderr:\n{_text(error.stderr)}"
        ) from error
    if result.returncode != 0:
        raise CalendarClientError(
            f"{' '.join(args)} failed (exit {result.returncode})\n"
            f"stdout:\n{_text(result.stdout)}\nstderr:\n{_text(result.stderr)}"
        )
    return result.stdout


def _parse_listing(output: str, zone: ZoneInfo) -> list[ClientEvent]:
    events: list[ClientEvent] = []
    seen: set[tuple[str, str, str, str]] = set()
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            rows = json.loads(line)
        except json.JSONDecodeError as error:
            raise CalendarClientError(f"unexpected line in khal's listing: {line!r}") from error
        for row in rows:
            # khal lists an event that spans several days on each of them; report it once.
            key = (row["uid"], row["start-long"], row["end-long"], row["title"])
            if key in seen:
                continue
            seen.add(key)
            all_day = row["all-day"] == "True"
            if all_day:
                first = datetime.strptime(row["start-long"], _LONG_DATE).date()
                last = datetime.strptime(row["end-long"], _LONG_DATE).date()
                start = datetime.combine(first, time(), zone)
                end = datetime.combine(last + timedelta(days=1), time(), zone)
            else:
                start = datetime.strptime(row["start-long"], _LONG_DATETIME).astimezone(zone)
                end = datetime.strptime(row["end-long"], _LONG_DATETIME).astimezone(zone)
            events.append(
                ClientEvent(
                    title=row["title"],
                    start=start,
                    end=end,
                    status=row["status"],
                    recurring=bool(row["repeat-symbol"]),
                    all_day=all_day,
                )
            )
    return events


def sync_and_list(feed_url: str, workdir: Path, *, start: date, days: int, time_zone: str = "UTC") -> list[ClientEvent]:
    """Subscribes to ``feed_url``, syncs, and returns what khal lists for ``days`` days from ``start``.

    Calling it again with the same ``workdir`` syncs the subscription again, as a client would.
    """
    vdirsyncer, khal = _tool("vdirsyncer"), _tool("khal")
    zone = ZoneInfo(time_zone)
    if days < 1:
        raise ValueError("days must be at least 1")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    vdirsyncer_config, khal_config = _write_configs(workdir, feed_url, time_zone)
    env = _environment(workdir, time_zone)

    # discover may ask whether to create the local vdir: always yes.
    _run([str(vdirsyncer), "-c", str(vdirsyncer_config), "discover"], env, workdir, stdin="y\n" * 10)
    _run([str(vdirsyncer), "-c", str(vdirsyncer_config), "sync"], env, workdir)
    json_fields = [arg for field in _KHAL_FIELDS for arg in ("--json", field)]
    listing = _run(
        [
            str(khal),
            "-c",
            str(khal_config),
            "list",
            *json_fields,
            "--day-format",
            "",
            start.strftime(_LONG_DATE),
            f"{days}d",
        ],
        env,
        workdir,
    )
    return _parse_listing(listing, zone)
