"""Sending the report by mail: the html page with a plain-text part, through the configured SMTP server."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pipeline.report.model import Report, ReportError
from pipeline.report.render import summary_line

__all__ = ["MailServer", "build_message", "send_report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailServer:
    """Where and how to hand the mail over (the smtp_* settings)."""

    host: str
    port: int = 25
    sender: str | None = None  # default: signoff@<this host's name>
    user: str | None = None  # log in only when set
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0


def build_message(report: Report, sender: str, to: Sequence[str], text: str, html: str) -> EmailMessage:
    """A multipart/alternative message: the text part first, the html part preferred by mail readers."""
    msg = EmailMessage()
    msg["Subject"] = f"signoff report {report.period.label()}: {summary_line(report)}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send_report(report: Report, server: MailServer, to: Sequence[str], text: str, html: str) -> None:
    """Send the report to every address in `to`.

    Raises:
        ReportError: no server is configured, or it refused or could not be reached.
    """
    if not server.host:
        raise ReportError("--mail-to needs an SMTP server: set smtp_host in signoff.toml (or SIGNOFF_SMTP_HOST)")
    sender = server.sender or f"signoff@{socket.getfqdn()}"
    msg = build_message(report, sender, to, text, html)
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.user:
                smtp.login(server.user, server.password or "")
            refused = smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise ReportError(f"could not send the report through {server.host}:{server.port}: {exc}") from None
    if refused:
        raise ReportError(f"the SMTP server refused: {', '.join(sorted(refused))}")
    log.info("report mailed to %s through %s:%d", ", ".join(to), server.host, server.port)
