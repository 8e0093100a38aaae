"""mail_send: a plain or HTML mail through a mail:smtp resource (or a plugin's mail
connector with the engine's send_plaintext/send_html)."""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..results import as_list, to_bool
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict

    from ..runner import StepContext


def run_mail_send(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs("mail_send", inputs, ("resource", "to", "subject", "body"))
    mail = ctx.connectors.mail(str(inputs["resource"]))
    to = [str(x) for x in as_list(inputs["to"])]
    subject = str(inputs["subject"])
    body = str(inputs["body"])
    html = to_bool(inputs.get("html", False), "html")
    common = {
        "to": to,
        "subject": subject,
        "cc": [str(x) for x in as_list(inputs.get("cc"))],
        "bcc": [str(x) for x in as_list(inputs.get("bcc"))],
        "from_addr": inputs.get("from_addr"),
    }
    if html:
        mail.send_html(html=body, text=inputs.get("text"), **common)
    else:
        mail.send_plaintext(body=body, **common)
    return {"sent": True, "to": to, "subject": subject, "html": html}
