"""mail:smtp with smtplib: plain and HTML mail, cc and bcc, STARTTLS, login.

Config: host (required), port (587), username, password, starttls (default: port is
587), from_addr (default: username). Options: timeout (30 s), retry.max_attempts (1),
and, beyond the engine, tls_verify (false, as the engine: the server certificate is not
checked) with ca_file for verifying STARTTLS against a private CA.
"""

from __future__ import annotations

import time

from .. import TYPE_CHECKING
from . import ConnectorBase, ConnectorError, register_connector

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, List, Optional, Union

    Addresses = Union[str, List[str], None]


def _addresses(value: Addresses) -> List[str]:
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@register_connector("mail", "smtp")
class SmtpConnector(ConnectorBase):
    _smtp: Any = None

    def _starttls(self) -> bool:
        if "starttls" in self.config:
            return bool(self.config.get("starttls"))
        return int(self.config.get("port", 587)) == 587

    def _tls_context(self) -> Any:
        import ssl

        if not self.options.get("tls_verify"):
            return None  # smtplib's default: encrypted, certificate not checked
        return ssl.create_default_context(cafile=self.options.get("ca_file"))

    def client(self) -> Any:
        """The SMTP session of this run (connected, STARTTLS and login done)."""
        import smtplib

        if self._smtp is not None:
            return self._smtp
        host = self.config.get("host")
        if not host:
            raise ConnectorError("mail:smtp resource %s needs config.host" % self.name)
        port = int(self.config.get("port", 587))
        timeout = float(self.options.get("timeout", 30) or 30)
        smtp = smtplib.SMTP(host=str(host), port=port, timeout=timeout)
        try:
            smtp.ehlo()
            if self._starttls():
                try:
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                except (OSError, smtplib.SMTPException) as exc:
                    raise ConnectorError(
                        "mail:smtp %s: STARTTLS failed (%s)"
                        % (self.name, type(exc).__name__)
                    ) from None
            user, password = self.config.get("username"), self.config.get("password")
            if user and password:
                try:
                    smtp.login(str(user), str(password))
                except smtplib.SMTPException as exc:
                    raise ConnectorError(
                        "mail:smtp %s: login failed (%s)"
                        % (self.name, type(exc).__name__)
                    ) from None
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except Exception:
            self._smtp.close()
        finally:
            self._smtp = None

    def _send(self, message: Any, recipients: List[str]) -> None:
        import smtplib

        attempts = max(1, int((self.options.get("retry") or {}).get("max_attempts", 1)))
        for attempt in range(attempts):
            try:
                self.client().send_message(message, to_addrs=recipients)
                return
            except (OSError, smtplib.SMTPException, ConnectorError) as exc:
                self.close()
                if attempt + 1 >= attempts:
                    detail = (
                        str(exc)
                        if isinstance(exc, ConnectorError)
                        else type(exc).__name__
                    )
                    raise ConnectorError(
                        "mail:smtp %s: sending failed after %d attempt(s): %s"
                        % (self.name, attempts, detail)
                    ) from None
                time.sleep(min(2**attempt, 5))

    def _message(
        self, to: Addresses, subject: str, from_addr: Optional[str], cc: Addresses
    ) -> Any:
        from email.message import EmailMessage

        sender = (
            from_addr or self.config.get("from_addr") or self.config.get("username")
        )
        if not sender:
            raise ConnectorError(
                "mail:smtp resource %s: no from address (from_addr input, config.from_addr "
                "or config.username)" % self.name
            )
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = str(sender)
        message["To"] = ", ".join(_addresses(to))
        if cc:
            message["Cc"] = ", ".join(_addresses(cc))  # bcc: recipients, never a header
        return message

    def send_plaintext(
        self,
        *,
        to: Addresses,
        subject: str,
        body: str,
        from_addr: Optional[str] = None,
        cc: Addresses = None,
        bcc: Addresses = None,
    ) -> None:
        message = self._message(to, subject, from_addr, cc)
        message.set_content(body)
        self._send(message, _addresses(to) + _addresses(cc) + _addresses(bcc))

    def send_html(
        self,
        *,
        to: Addresses,
        subject: str,
        html: str,
        text: Optional[str] = None,
        from_addr: Optional[str] = None,
        cc: Addresses = None,
        bcc: Addresses = None,
    ) -> None:
        message = self._message(to, subject, from_addr, cc)
        message.set_content(text or "")
        message.add_alternative(html, subtype="html")
        self._send(message, _addresses(to) + _addresses(cc) + _addresses(bcc))
