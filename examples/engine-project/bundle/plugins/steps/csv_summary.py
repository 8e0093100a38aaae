"""A plugin step written for the reference engine: it imports aetherflow.core.api only."""

import csv

from aetherflow.core.api import STEP_SKIPPED, Step, StepResult, register_step


@register_step("csv_summary")
class CsvSummary(Step):
    """Count the rows of a CSV file in the job's artifacts and add up one column."""

    required_inputs = {"path", "total_column"}

    def run(self):
        self.validate()
        path = self.ctx.artifacts_dir(self.job_id) / self.inputs["path"]
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            return StepResult(
                status=STEP_SKIPPED, output={"rows": 0, "total": 0}, reason="no orders"
            )
        total = round(sum(float(row[self.inputs["total_column"]]) for row in rows), 2)
        return {"rows": len(rows), "total": total}
