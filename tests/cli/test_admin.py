"""Admin commands: tokens, and the policy edited in $EDITOR and saved only against the ETag it was read with.

Policy edits go to a fresh user's overrides, so the team policy other tests rely on stays as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from tests.cli.conftest import Dsvm


def editor(tmp_path: Path, body: str) -> dict[str, str]:
    """$EDITOR as a script: `body` runs with `doc` (the parsed file) and `path`; the file is saved after."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import json, sys\n"
        "path = sys.argv[1]\n"
        "doc = json.load(open(path))\n" + body + "\njson.dump(doc, open(path, 'w'))\n"
    )
    return {"EDITOR": f"{sys.executable} {script}"}


def test_tokens_are_issued_once_listed_and_revoked(dsvm_admin: Dsvm, user_name: str) -> None:
    issued = dsvm_admin("tokens", "create", user_name, "--note", "laptop", "--expires-in-days", "30", "-o", "json")
    assert issued.returncode == 0, issued.stderr
    token = json.loads(issued.stdout)
    assert token["token"].startswith("dsvm_")
    me = httpx.get(f"{dsvm_admin.api_url}/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert me.json()["user"] == user_name

    listed = dsvm_admin("tokens", "list", "--user", user_name).stdout
    assert token["id"] in listed and "laptop" in listed and token["token"] not in listed
    revoked = dsvm_admin("tokens", "revoke", token["id"])
    assert revoked.returncode == 0, revoked.stderr
    me = httpx.get(f"{dsvm_admin.api_url}/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert me.status_code == 401


def test_issued_token_is_shown_once_with_how_to_sign_in(dsvm_admin: Dsvm, user_name: str) -> None:
    result = dsvm_admin("tokens", "create", user_name)
    assert result.returncode == 0, result.stderr
    assert "shown once" in result.stdout and "dsvm_" in result.stdout
    assert f"dsvm login --url {dsvm_admin.api_url}" in result.stdout


def test_policy_edit_saves_what_was_changed_in_the_editor(dsvm_admin: Dsvm, user_name: str, tmp_path: Path) -> None:
    env = editor(tmp_path, "doc['max_snooze_hours'] = 3\ndoc['max_vms_per_user'] = 2")
    result = dsvm_admin("policy", "edit", "--user", user_name, env=env)
    assert result.returncode == 0, result.stderr
    assert f"Overrides for {user_name} saved" in result.stdout
    shown = json.loads(dsvm_admin("policy", "show", "--user", user_name, "-o", "json").stdout)
    assert shown["max_snooze_hours"] == 3 and shown["max_vms_per_user"] == 2
    table = dsvm_admin("policy", "show").stdout
    assert table.splitlines()[0].split() == ["SETTING", "VALUE"] and "max_snooze_hours" in table


def test_policy_edit_refused_by_the_api_keeps_the_edit(dsvm_admin: Dsvm, user_name: str, tmp_path: Path) -> None:
    env = editor(tmp_path, "doc['max_snooze_hours'] = 100000")
    result = dsvm_admin("policy", "edit", "--user", user_name, env=env)
    assert result.returncode == 1
    assert "(422)" in result.stderr and "max_snooze_hours" in result.stderr
    draft = Path(result.stderr.split("Your edit is in ")[1].split()[0].rstrip("."))
    assert json.loads(draft.read_text())["max_snooze_hours"] == 100000
    draft.unlink()


def test_policy_edit_never_overwrites_a_change_made_meanwhile(dsvm_admin: Dsvm, user_name: str, tmp_path: Path) -> None:
    # While "our" editor is open, another admin saves a change to the same overrides.
    override = f"{dsvm_admin.api_url}/policy/users/{user_name}"
    meanwhile = (
        "import urllib.request\n"
        f"auth = {{'Authorization': 'Bearer {dsvm_admin.token}'}}\n"
        f"etag = urllib.request.urlopen(urllib.request.Request({override!r}, headers=auth)).headers['etag']\n"
        f"put = urllib.request.Request({override!r}, method='PUT', data=b'{{\"max_ttl_hours\": 5}}',\n"
        "    headers={**auth, 'If-Match': etag, 'Content-Type': 'application/json'})\n"
        "urllib.request.urlopen(put)\n"
        "doc['max_snooze_hours'] = 2"
    )
    result = dsvm_admin("policy", "edit", "--user", user_name, env=editor(tmp_path, meanwhile))
    assert result.returncode == 1
    assert "someone changed the policy since you opened it; nothing saved" in result.stderr
    assert json.loads(dsvm_admin("policy", "show", "--user", user_name, "-o", "json").stdout)["max_ttl_hours"] == 5
    draft = Path(result.stderr.split("Your edit is in ")[1].split(":")[0])
    assert json.loads(draft.read_text())["max_snooze_hours"] == 2
    draft.unlink()


def test_me_shows_usage_against_limits(dsvm: Dsvm) -> None:
    result = dsvm("me")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["USED", "LIMIT"]
    assert any(line.split()[:2] == ["VMs", "allocated"] and line.split()[2:] == ["0", "5"] for line in lines)
    assert any("spent this month" in line and "$500.00" in line for line in lines)
