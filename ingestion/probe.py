"""Test Connection: fetch the account and the workspace with the entered credentials and say
exactly what failed — a SID of the wrong form, credentials Twilio refuses (401), a workspace the
account does not have, or Twilio not answering at all."""

from dataclasses import dataclass

from twilio.base.exceptions import TwilioRestException

from . import validation
from .twilio_client import HoldfastHttpClient, TwilioUnreachable, client_for, rebase


@dataclass(frozen=True)
class ProbeResult:
    """Whether the connection works, and the message that says so (or what failed)."""

    ok: bool
    message: str


def test_connection(account_sid, auth_token, workspace_sid, *, http_client=None):
    """A :class:`ProbeResult` for the credentials (nothing is saved)."""
    account_sid, workspace_sid, auth_token = (account_sid or "").strip(), (workspace_sid or "").strip(), auth_token
    problem = validation.account_sid_error(account_sid) or validation.workspace_sid_error(workspace_sid)
    if problem:
        return ProbeResult(False, problem)
    if not auth_token:
        return ProbeResult(False, "Twilio Auth Token: enter the auth token to test the connection.")
    # One attempt, short: a person is waiting for the answer.
    http = http_client or HoldfastHttpClient(max_retries=0, timeout=10)
    client = client_for(account_sid, auth_token, http_client=http)
    try:
        account = client.api.v2010.accounts(account_sid).fetch()
    except TwilioUnreachable as exc:
        host = rebase("https://api.twilio.com", http.base_url)
        return ProbeResult(False, f"Twilio is unreachable: no answer from {host} ({_short(exc)}).")
    except TwilioRestException as exc:
        if exc.status == 401:
            return ProbeResult(
                False, "Twilio refused the credentials (401 Unauthorized): check the Account SID and the Auth Token."
            )
        if exc.status == 404:
            return ProbeResult(False, f"Twilio has no account {account_sid} (404).")
        return ProbeResult(False, f"Twilio answered {exc.status} when fetching the account: {exc.msg}")
    try:
        workspace = client.taskrouter.v1.workspaces(workspace_sid).fetch()
    except TwilioUnreachable as exc:
        host = rebase("https://taskrouter.twilio.com", http.base_url)
        return ProbeResult(False, f"Twilio is unreachable: no answer from {host} ({_short(exc)}).")
    except TwilioRestException as exc:
        if exc.status == 404:
            return ProbeResult(
                False, f"Unknown workspace: account {account_sid} has no TaskRouter workspace {workspace_sid} (404)."
            )
        if exc.status in (401, 403):
            return ProbeResult(False, f"Twilio refused access to workspace {workspace_sid} ({exc.status}).")
        return ProbeResult(False, f"Twilio answered {exc.status} when fetching the workspace: {exc.msg}")
    return ProbeResult(
        True, f"Connected: account “{account.friendly_name}” ({account_sid}), workspace “{workspace.friendly_name}”."
    )


def _short(exc):
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "…"
