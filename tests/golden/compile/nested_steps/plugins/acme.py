from aetherflow.core.api import Step, register_step


@register_step("acme_touch")
class Touch(Step):
    required_inputs = {"name"}

    def run(self):
        self.validate()
        return {"name": self.inputs["name"]}
