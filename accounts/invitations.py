"""The invitation email and its set-password link. ``services.invite_member`` decides and records;
this module only says what the person receives.

Two messages, with the same subject, sender and size of work (one render, one SMTP delivery):

- a new address: the account's user name and a link to set its password (Django's password-reset
  token machinery, with a salt of its own so that a reset link is not an invitation link and back);
- an address that already belongs to an account: nothing was attached; to join, the person tells
  whoever invited them, and an administrator of the tenant asks support to link the existing
  account. The tenant's pages show both cases alike, so whether an address has an account is never
  revealed to the tenant; only the owner of the address learns it.
"""

import smtplib

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Tokens of set-password links in invitations. Like password-reset tokens they stop working
    once the password is set (or the account's email changes) and after ``PASSWORD_RESET_TIMEOUT``."""

    key_salt = "accounts.invitations.InvitationTokenGenerator"


invitation_tokens = InvitationTokenGenerator()


def accept_link(user, site_url):
    """The absolute set-password link for ``user`` (``site_url``: the site's root, e.g. ``https://host/``)."""
    path = reverse(
        "invitation-accept",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": invitation_tokens.make_token(user)},
    )
    return site_url.rstrip("/") + path


def send_invitation(invitation, tenant, *, site_url):
    """Send ``invitation``'s email: the set-password link when it created the account, otherwise
    the message for an address whose account lives elsewhere.

    Raises a ``ValidationError`` on the email field when the mail server does not take the message,
    so that the caller's transaction (and everything it saved) is rolled back.
    """
    context = {
        "tenant": tenant,
        "invitation": invitation,
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    if invitation.user_id is not None:
        template = "accounts/email/invitation_new_account.txt"
        context.update(username=invitation.user.username, link=accept_link(invitation.user, site_url))
    else:
        template = "accounts/email/invitation_existing_account.txt"
        context.update(site_url=site_url)
    message = EmailMessage(
        subject=f"Invitation to {tenant.name} on Holdfast",
        body=render_to_string(template, context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise ValidationError(
            {
                "email": f"The invitation could not be sent (the mail server answered: {exc}). "
                "Nothing was saved; try again later."
            }
        ) from None
