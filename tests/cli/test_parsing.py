"""What the command line reads from people and files, without the stack: `.devstack/env` exactly as `sh`
reads it, API URLs, schedules, durations and problems."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import pytest

from dsvm_cli.config import normalise_url, parse_env_file
from dsvm_cli.errors import ApiError, Problem
from dsvm_cli.render import span
from dsvm_cli.specs import ScheduleSpec, working_days_to_days_off

TRICKY = {
    "DSVM_API": "http://127.0.0.1:7071/api",
    "DSVM_TABLES_CONNECTION": "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=ab+c/d==;TableEndpoint=http://h/x",
    "QUOTE": 'it\'s "here" $HOME `x` \\n',
    "SPACES": "a  b",
}


def sh_reads(path: Path, keys: list[str]) -> dict[str, str]:
    script = f'set -a; . "{path}"; set +a; ' + "; ".join(f"printf '%s\\0' \"${key}\"" for key in keys)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, env={}).stdout
    return dict(zip(keys, out.split("\0")[:-1], strict=True))


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh on this machine")
def test_shell_quoted_env_file_reads_as_sh_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("".join(f"{key}='" + value.replace("'", "'\\''") + "'\n" for key, value in TRICKY.items()))
    assert parse_env_file(path.read_text()) == sh_reads(path, list(TRICKY)) == TRICKY


def test_plain_env_file_of_older_stacks_still_reads() -> None:
    text = "# written by make dev\nexport DSVM_API=http://127.0.0.1:7071/api\nDSVM_TABLES_CONNECTION=a=b;c=d\n\n"
    assert parse_env_file(text) == {"DSVM_API": "http://127.0.0.1:7071/api", "DSVM_TABLES_CONNECTION": "a=b;c=d"}


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("https://func-dsvm.azurewebsites.net", "https://func-dsvm.azurewebsites.net/api"),
        ("https://func-dsvm.azurewebsites.net/", "https://func-dsvm.azurewebsites.net/api"),
        (" http://127.0.0.1:7071/api/ ", "http://127.0.0.1:7071/api"),
        ("https://gw.example.com/teams/dsvm", "https://gw.example.com/teams/dsvm"),
    ],
)
def test_api_url_without_a_path_means_its_api(given: str, used: str) -> None:
    assert normalise_url(given) == used


@pytest.mark.parametrize(
    ("working", "off"),
    [
        ("mon-fri", ["sat", "sun"]),
        ("sun-thu", ["fri", "sat"]),
        ("mon,wed,fri", ["tue", "thu", "sat", "sun"]),
        ("mon-sun", []),
    ],
)
def test_working_days_become_days_off(working: str, off: list[str]) -> None:
    assert working_days_to_days_off(working) == off


def test_schedule_spec_names_the_option_when_wrong() -> None:
    spec = ScheduleSpec()
    assert spec.convert("Europe/Berlin 7:05-19:00", None, None) == {
        "timezone": "Europe/Berlin",
        "resume_at": "07:05",
        "stop_at": "19:00",
    }
    with pytest.raises(click.BadParameter, match="not a day or range"):
        spec.convert("Europe/Berlin 07:00-25:00", None, None)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(5, "5s"), (59.9, "59s"), (61, "1m"), (7199, "2h"), (7500, "2h 5m"), (90000, "1d 1h"), (-3600, "1h")],
)
def test_durations_read_as_people_say_them(seconds: float, said: str) -> None:
    assert span(seconds) == said


def test_a_problem_shows_title_detail_and_each_field_once() -> None:
    body = {
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "The request is not valid; see errors.",
        "errors": [
            {"field": "ttl_hours", "message": "at most 336"},
            {"field": "ttl_hours", "message": "at most 336"},
            {"field": "size", "message": "not allowed"},
        ],
    }
    error = ApiError(Problem.parse(422, "Unprocessable Entity", body, "", None))
    assert error.lines() == [
        "error: Unprocessable Content (422): The request is not valid; see errors.",
        "  ttl_hours: at most 336",
        "  size: not allowed",
    ]
    html = ApiError(Problem.parse(502, "Bad Gateway", None, "<html>\n upstream  down </html>", None))
    assert html.lines() == ["error: Bad Gateway (502): <html> upstream down </html>"]
