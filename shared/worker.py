"""The queue worker: every change that waits on Azure runs here, off the request path.

`handle(svc, message)` is the body of the queue-triggered function (function_app.py) and of the local loop
(`python -m shared.worker`, what `make dev` and the tests run). Messages:

- `{"op": "create", "name", "id", "password_hash"}`: create the NSG and wait for it, then send the VM PUT.
  The record says which step is done (`create_step`: queued -> network -> vm), each step saved with an event
  before the ARM call it leads to, so a message delivered again (after a crash, a timeout, a retry) finishes
  or cleanly repeats the step. Both PUTs carry If-None-Match: * and nothing is ever taken over: a name held in
  Azure by something that is not this record's fails the create (NameInUse).
- `{"op": "command", "name", "id", "command"}`: start | deallocate | restart | delete | delete_nsg |
  update_nsg, sent only to a VM (or NSG) whose `dsvm-record` tag is this record's id; otherwise refused with
  an event and an error. A delete waits for the VM and then the NSG to go, and settles the record as Deleted.
  update_nsg gives the NSG the record's allowed_cidrs (whatever they are when it runs) and waits for it.
- `{"op": "password", "name", "id", "operation"}`: watch the VMAccessForLinux extension the API sent (the API
  sends it itself: a password never travels through the queue) until it finishes, and event the result.

A message is handled only while its record still wants it (same id, expected state); anything else is
acknowledged and dropped. Azure refusing for good (a 4xx) settles the record; throttling, 5xx and network
failures raise, so the platform retries the message (host.json: `maxDequeueCount`); after the last try it
lands in the poison queue and `poisoned` settles the record as Failed (creates) or records the error
(commands, which reconcile re-sends) — never stuck.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent.install import agent_cloud_config
from shared.auth import new_agent_token
from shared.azure.queue import Received, WorkQueue
from shared.azure.tables import Stale
from shared.core import passwords
from shared.core.cloudinit import cloud_config, custom_data, merged
from shared.core.lifecycle import NSG_FOLLOWS, reconcile
from shared.core.models import CreateStep, Event, VmRecord, VmState
from shared.core.observations import ArmError, child_names, ours
from shared.operations import save
from shared.services import ServiceHolder, Services

log = logging.getLogger(__name__)

ACTOR = "system:worker"
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
# The commands and the record state each belongs to: a command for a record that moved on is dropped.
COMMAND_STATES = {
    "start": {VmState.STARTING},
    "deallocate": {VmState.STOPPING},
    "restart": {VmState.RESTARTING},
    "delete": {VmState.DELETING, VmState.FAILED},
    "delete_nsg": {VmState.DELETING, VmState.FAILED},
    "update_nsg": NSG_FOLLOWS,
}
# How long one delivery of a password message waits for the extension before it is tried again.
EXTENSION_WAIT_SECONDS = 600.0


class NameInUse(Exception):
    """A VM or NSG of the record's name exists in Azure and is not this record's."""


def retryable(error: ArmError) -> bool:
    """Throttling, server errors, a network failure, or an operation in the way: worth another delivery."""
    return error.status in (0, 429) or error.status >= 500 or error.code in ("Conflict", "AnotherOperationInProgress")


def handle(svc: Services, message: dict[str, Any]) -> None:
    if message.get("op") == "create":
        create(svc, message)
    elif message.get("op") == "command":
        command(svc, message)
    elif message.get("op") == "password":
        password_result(svc, message)
    else:
        # Never succeeds: after the host's tries it lands in the poison queue, where a person can see it.
        raise ValueError(f"a message of unknown kind: {message.get('op')!r}")


def current(svc: Services, message: dict[str, Any]) -> VmRecord | None:
    record = svc.store.get_vm(str(message.get("name")))
    if record is None or record.id != message.get("id"):
        return None
    return record


def step(svc: Services, record: VmRecord, update: dict[str, Any], reason: str) -> VmRecord | None:
    """Save a step of the record (ETag-checked) with an event; None if the record moved on meanwhile."""
    now = svc.clock()
    event = Event(time=now, actor=ACTOR, action="create", state=update.get("state", record.state), reason=reason)
    try:
        return save(svc, record, record.model_copy(update={"action_at": now, **update}), [event])
    except Stale:
        return None


# --- create -----------------------------------------------------------------------------------------


def create(svc: Services, message: dict[str, Any]) -> None:
    while True:
        record = current(svc, message)
        if record is None or record.state != VmState.CREATING:
            return
        try:
            if create_step(svc, record, message):
                return
        except NameInUse as exc:
            fail(svc, record, "NameInUse", str(exc))
            return
        except ArmError as exc:
            if retryable(exc):
                note_retry(svc, record, exc)
                raise
            fail(svc, record, exc.code, exc.message)
            return


def create_step(svc: Services, record: VmRecord, message: dict[str, Any]) -> bool:
    """Do the next step of a create; True when the create is done with (or someone else moved the record)."""
    arm = svc.arm
    stage: CreateStep = record.create_step or "queued"
    if stage == "queued":
        owner = arm.nsg_owner(record.name)
        if owner is None:
            try:
                arm.create_nsg(record)
            except ArmError as exc:
                if exc.status != 412:
                    raise
                owner = arm.nsg_owner(record.name)
        if owner is not None:
            if owner != record.id:
                raise NameInUse(f"a network security group '{record.name}-nsg' exists in Azure and is not this VM's")
            arm.wait_for_nsg(record.name)
        return step(svc, record, {"create_step": "network"}, "the network security group is ready") is None
    if stage == "network":
        if record.password_auth and not message.get("password_hash"):
            fail(svc, record, "PasswordLost", "The password did not reach the worker; create the VM again.")
            return True
        token, token_hash = agent_token(svc)
        sent = step(
            svc, record, {"create_step": "vm", "agent_token_hash": token_hash}, "the VM create is sent to Azure"
        )
        if sent is None:
            return False
        send_vm(svc, sent, message, token)
        return True
    # stage == "vm": the PUT was sent before; make sure it got there.
    vm = arm.get_vm(record.name)
    if vm is None:
        # Sent again with a new agent token: the first one's hash is all we kept.
        token, token_hash = agent_token(svc)
        again = step(svc, record, {"agent_token_hash": token_hash}, "the VM create is sent to Azure again")
        if again is None:
            return False
        send_vm(svc, again, message, token)
    elif ours(record.id, vm) is None:
        raise NameInUse(f"a VM named '{record.name}' exists in Azure and is not this record's")
    return True


def agent_token(svc: Services) -> tuple[str | None, str | None]:
    """A new activity-agent token and its hash, when VMs can reach the API (DSVM_PUBLIC_API_URL)."""
    if not svc.settings.public_api_url:
        return None, None
    return new_agent_token()


def send_vm(svc: Services, record: VmRecord, message: dict[str, Any], token: str | None) -> None:
    config = cloud_config(record.admin_username, message.get("password_hash"))
    if token is not None and svc.settings.public_api_url:
        config = merged(config, agent_cloud_config(svc.settings.public_api_url, record.name, token))
    throwaway = passwords.generate() if record.password_auth else None
    try:
        svc.arm.begin_create_vm(record, custom_data(config), throwaway)
    except ArmError as exc:
        if exc.status != 412:
            raise
        if ours(record.id, svc.arm.get_vm(record.name)) is None:
            raise NameInUse(f"a VM named '{record.name}' exists in Azure and is not this record's") from None


def note_retry(svc: Services, record: VmRecord, error: ArmError) -> None:
    """Show the caller why the create is slow; the message will be delivered again."""
    latest = svc.store.get_vm(record.name)
    if latest is None or latest.id != record.id or latest.state != VmState.CREATING:
        return
    with contextlib.suppress(Stale):
        svc.store.update_vm(latest.model_copy(update={"error_code": error.code, "error_message": error.message}))


def fail(svc: Services, record: VmRecord, code: str, message: str) -> None:
    """Settle a create that cannot succeed: Failed with Azure's reason, and nothing of ours left in Azure.

    Only this record's own NSG is removed; a VM or NSG that is not this record's is never touched.
    """
    arm = svc.arm
    try:
        if arm.nsg_owner(record.name) == record.id:
            arm.delete_nsg(record.name, wait=True)
        released = ours(record.id, arm.get_vm(record.name)) is None and arm.nsg_owner(record.name) != record.id
    except ArmError as exc:
        # Reconcile removes what is left (a Failed record's NSG and VM) on later passes.
        log.warning("could not clean up after the failed create of %s: %s", record.name, exc)
        released = False
    update = {"state": VmState.FAILED, "error_code": code, "error_message": message, "released": released}
    event = Event(
        time=svc.clock(),
        actor=ACTOR,
        action="create",
        state=VmState.FAILED,
        reason=f"the create failed: {code}",
        evidence={"code": code, "message": message},
    )
    # The worker itself may have moved the record since it was read (a step): settle the latest copy.
    save_latest(svc, record, lambda latest: latest.state == VmState.CREATING, update, event)


def save_latest(
    svc: Services, record: VmRecord, wanted: Callable[[VmRecord], bool], update: dict[str, Any], event: Event
) -> None:
    """Save `update` with `event` on the latest copy of the record, as long as `wanted` still holds of it."""
    latest: VmRecord | None = record
    while latest is not None and latest.id == record.id and wanted(latest):
        try:
            save(svc, latest, latest.model_copy(update=update), [event])
            return
        except Stale:
            latest = svc.store.get_vm(record.name)


# --- commands ---------------------------------------------------------------------------------------


def command(svc: Services, message: dict[str, Any]) -> None:
    record = current(svc, message)
    name = str(message.get("command"))
    if record is None or record.state not in COMMAND_STATES.get(name, set()):
        return
    if name == "update_nsg":
        network_rules(svc, record)
        return
    arm = svc.arm
    vm = arm.get_vm(record.name)
    mine = ours(record.id, vm)
    if name in ("delete", "delete_nsg"):
        if vm is not None and mine is None and name == "delete":
            refuse(svc, record, name)
        elif mine is not None and name == "delete":
            arm.delete_vm(record.name)
        if arm.nsg_owner(record.name) == record.id:
            arm.delete_nsg(record.name, wait=True)
        settle(svc, record)
        return
    if mine is None:
        if vm is not None:
            refuse(svc, record, name)
        return
    try:
        arm.begin_action(record.name, name)
    except ArmError as exc:
        if retryable(exc):
            raise
        log.warning("Azure refused to %s %s: %s (reconcile settles it)", name, record.name, exc)


def network_rules(svc: Services, record: VmRecord) -> None:
    """Give the record's NSG its allowed_cidrs, then mark them applied (unless they changed meanwhile: the newer
    change has its own message). Only this record's own NSG is ever written."""
    cidrs = list(record.allowed_cidrs)
    settled: dict[str, Any] = {"nsg_pending_since": None, "nsg_attempts": 0}
    try:
        applied = svc.arm.update_nsg_rules(record)
    except ArmError as exc:
        if retryable(exc) or exc.status == 412:
            raise
        reason = f"Azure refused the network rules: {exc}"
        settled |= {"error_code": exc.code, "error_message": f"Azure refused the network rules: {exc.message}"}
    else:
        if applied is False:
            nsg = f"the network security group '{child_names(record.name).nsg}'"
            refuse(svc, record, "update_nsg", nsg, **settled)
            return
        reason = f"the network security group admits {', '.join(cidrs)} on ports 22, 8000 and 8787"
        if applied is None:
            reason = "the network security group is gone; there are no rules to change"
    event = worker_event(svc, "network", record, reason, {"allowed_cidrs": cidrs})
    # A newer change of allowed_cidrs has its own message: only these rules are marked applied.
    save_latest(svc, record, lambda r: r.allowed_cidrs == cidrs and r.nsg_pending_since is not None, settled, event)


def password_result(svc: Services, message: dict[str, Any]) -> None:
    """Event how the password reset `message["operation"]` ended, once the extension has finished.

    A later reset replaces the extension's operation tag: this one's result is then no longer Azure's to
    tell, and the later reset's own message reports."""
    record = current(svc, message)
    if record is None:
        return
    operation = message.get("operation")
    outcome: tuple[str | None, str, str | None]
    if ours(record.id, svc.arm.get_vm(record.name)) is None:
        outcome = (None, "Unknown", "the VM is no longer this record's")
    else:
        found = svc.arm.password_reset_result(record.name, EXTENSION_WAIT_SECONDS)
        outcome = found if found is not None else (operation, "Unknown", "the VM has no access extension")
    tag, state, why = outcome
    if tag is not None and tag != operation:
        return
    user = record.admin_username
    if state.lower() == "succeeded":
        reason = f"the password of {user} was reset"
    elif (latest := current(svc, message)) is not None and latest.state in (VmState.DELETING, VmState.DELETED):
        # The extension went with the VM before its result was read: the owner asked for both; nothing failed.
        record, reason = latest, f"the password reset of {user} is moot: the VM was deleted"
    else:
        reason = f"the password reset of {user} did not succeed ({state})" + (f": {why}" if why else "")
    evidence = {"username": user, "operation": operation, "provisioning_state": state}
    svc.store.add_events(record.id, [worker_event(svc, "password", record, reason, evidence)])


def worker_event(
    svc: Services, action: str, record: VmRecord, reason: str, evidence: dict[str, Any] | None = None
) -> Event:
    return Event(
        time=svc.clock(), actor=ACTOR, action=action, state=record.state, reason=reason, evidence=evidence or {}
    )


def refuse(svc: Services, record: VmRecord, name: str, resource: str | None = None, **settled: Any) -> None:
    """Never act on a VM (or NSG) whose tag does not say it is this record's: say so, on the record and in an
    event; `settled` are further changes that close the refused work."""
    what = resource or f"the VM named '{record.name}'"
    text = f"refused to {name}: {what} in Azure is not this record's (its dsvm-record tag differs)"
    log.warning("%s", text)
    event = worker_event(svc, name, record, text)
    update = {"error_code": "NotOurs", "error_message": text, **settled}
    with contextlib.suppress(Stale):
        save(svc, record, record.model_copy(update=update), [event])


def settle(svc: Services, record: VmRecord) -> None:
    """After a delete: look again, so the record becomes Deleted now rather than at the next sweep."""
    fresh = svc.store.get_vm(record.name)
    if fresh is None or fresh.id != record.id:
        return
    vm = svc.arm.get_vm(record.name)
    nsg_present = svc.arm.nsg_owner(record.name) == record.id if ours(record.id, vm) is None else None
    moved = reconcile(fresh, vm, nsg_present, svc.clock())
    if moved.record != fresh:
        with contextlib.suppress(Stale):
            save(svc, fresh, moved.record, moved.events)


# --- the poison queue -------------------------------------------------------------------------------


def poisoned(svc: Services, message: dict[str, Any]) -> None:
    """A message that failed every delivery: settle its record so a person can act on it."""
    record = current(svc, message)
    if record is None:
        return
    if message.get("op") == "create" and record.state == VmState.CREATING:
        code = record.error_code or "CreateFailed"
        why = record.error_message or "the create failed on every attempt"
        fail(svc, record, code, f"Azure did not accept the create after every retry ({why}). Create it again.")
        return
    what = str(message.get("command") or message.get("op"))
    if message.get("op") == "password":
        text = "the result of the password reset could not be read after every retry; look at the VM's extensions"
        svc.store.add_events(record.id, [worker_event(svc, what, record, text)])
        return
    text = f"could not {what} the VM after every retry; reconcile tries again later"
    event = worker_event(svc, what, record, text)
    with contextlib.suppress(Stale):
        save(svc, record, record.model_copy(update={"error_message": text}), [event])


# --- the local stand-in for the Functions host ------------------------------------------------------


def host_queue_settings() -> dict[str, Any]:
    """host.json's `extensions.queues`: the same retry rules locally as in Azure."""
    queues = json.loads(HOST_JSON.read_text())["extensions"]["queues"]
    hours, minutes, seconds = (int(part) for part in str(queues["visibilityTimeout"]).split(":"))
    return {
        "max_dequeue": int(queues["maxDequeueCount"]),
        "visibility_seconds": hours * 3600 + minutes * 60 + seconds,
        "batch": int(queues["batchSize"]),
    }


def drain(svc: Services, queue: WorkQueue, rules: dict[str, Any]) -> int:
    """One round of what the Functions host does: take a batch and run `handle` on its messages side by side
    (the host runs up to `batchSize` at once), delete each on success, make it visible again after the
    visibility timeout on failure, and move it to the poison queue after its last try; poison messages are
    given to `poisoned`. Returns how many messages it took."""
    # While a message is being worked on it stays invisible for long enough (a delete waits on ARM).
    hold = max(300, rules["visibility_seconds"])

    def work(message: Received) -> None:
        try:
            handle(svc, message.body)
        except Exception as exc:
            log.warning("message %s failed (try %d): %s", message.body.get("op"), message.dequeue_count, exc)
            if message.dequeue_count >= rules["max_dequeue"]:
                queue.to_poison(message)
            else:
                queue.retry_later(message, rules["visibility_seconds"])
            return
        queue.done(queue.work, message)

    taken = queue.receive(queue.work, rules["batch"], hold)
    with ThreadPoolExecutor(max_workers=max(1, len(taken))) as pool:
        list(pool.map(work, taken))
    poison: list[Received] = queue.receive(queue.poison, rules["batch"], hold)
    for message in poison:
        poisoned(svc, message.body)
        queue.done(queue.poison, message)
    return len(taken) + len(poison)


def main(argv: list[str] | None = None) -> int:
    from shared.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m shared.worker", description=__doc__)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between polls of an empty queue")
    parser.add_argument("--once", action="store_true", help="drain the queue once and exit")
    parser.add_argument(
        "--retry-seconds", type=int, default=None, help="how soon a failed message is tried again (host.json's default)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    svc = ServiceHolder(get_settings(), patient=True)()
    rules = host_queue_settings()
    if args.retry_seconds is not None:
        rules["visibility_seconds"] = args.retry_seconds
    while True:
        try:
            took = drain(svc, svc.queue, rules)
        except Exception as exc:
            log.warning("the queue could not be read, trying again: %s", type(exc).__name__)
            took = 0
        if args.once and not took:
            return 0
        if not took:
            time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
