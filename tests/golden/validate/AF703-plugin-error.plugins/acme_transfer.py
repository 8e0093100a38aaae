"""The team's transfer step; needs the vendor SDK."""
from aetherflow.core.api import Step, register_step

import acme_sdk  # not installed where the flow is compiled


@register_step("acme_transfer")
class Transfer(Step):
    def run(self):
        return {"sent": acme_sdk.send(self.inputs["path"])}
