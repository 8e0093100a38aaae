from aetherflow.core.api import Step, register_step
import acme_sdk_that_is_not_installed  # noqa: F401


@register_step("acme_push")
class Push(Step):
    def run(self):
        return {}
