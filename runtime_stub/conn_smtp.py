"""mail:smtp with smtplib: plain and HTML mail, cc and bcc, STARTTLS, login."""

from __future__ import annotations

from .connectors import ConnectorBase, ConnectorError, register_connector

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, List, Optional


@register_connector("mail", "smtp")
class SmtpConnector(ConnectorBase):
    def _settings(self) -> Any:
        host = self.config.get("host")
        if not host:
            raise ConnectorError("mail:smtp resource %s needs config.host" % self.name)
        port = int(self.config.get("port", 587))
        starttls = self.config.get("starttls")
        if starttls is None:
            starttls = port == 587
        return str(host), port, bool(starttls), float(self.options.get("timeout", 30))

    def send(
        self,
        *,
        to: List[str],
        subject: str,
        text: Optional[str],
        html: Optional[str],
        cc: List[str],
        bcc: List[str],
        from_addr: Optional[str],
    ) -> None:
        import smtplib
        from email.message import EmailMessage

        host, port, starttls, timeout = self._settings()
        sender = (
            from_addr or self.config.get("from_addr") or self.config.get("username")
        )
        if not sender:
            raise ConnectorError(
                "mail:smtp resource %s: no from address (config.from_addr or username)"
                % self.name
            )
        message = EmailMessage()
        message["From"] = str(sender)
        message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)  # bcc is never a header, only a recipient
        message["Subject"] = subject
        if html is not None:
            message.set_content(
                text
                if text is not None
                else "This message is HTML; view it in an HTML client."
            )
            message.add_alternative(html, subtype="html")
        else:
            message.set_content(text or "")
        attempts = max(1, int((self.options.get("retry") or {}).get("max_attempts", 1)))
        for attempt in range(1, attempts + 1):
            try:
                with smtplib.SMTP(host, port, timeout=timeout) as client:
                    if starttls:
                        client.starttls()
                    if self.config.get("username"):
                        client.login(
                            str(self.config["username"]),
                            str(self.config.get("password") or ""),
                        )
                    client.send_message(
                        message,
                        from_addr=str(sender),
                        to_addrs=list(to) + list(cc) + list(bcc),
                    )
                return
            except (OSError, smtplib.SMTPException) as exc:
                if attempt == attempts:
                    raise ConnectorError(
                        "mail:smtp %s: sending failed (%s)"
                        % (self.name, type(exc).__name__)
                    ) from None
