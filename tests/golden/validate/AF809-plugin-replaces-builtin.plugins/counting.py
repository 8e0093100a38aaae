from aetherflow.core.api import ConnectorBase, Step, register_connector, register_step


@register_step("check_items")
class CountWords(Step):
    required_inputs = {"text"}

    def run(self):
        return {"words": len(self.inputs["text"].split())}


@register_connector(kind="archive", driver="zipfile")
class NoZip(ConnectorBase):
    pass
