"""Run events on stderr: `text` for people, `json` (one object per line) for machines."""

from __future__ import annotations

import json
import sys
import time

from . import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Optional, TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_EVENT_KEYS = ("flow_id", "run_id", "job_id", "step_id", "status", "duration_ms")


class EventLog:
    def __init__(
        self,
        flow_id: str,
        fmt: str = "text",
        level: str = "INFO",
        stream: Optional[TextIO] = None,
    ) -> None:
        self.flow_id = flow_id
        self.run_id = ""
        self.fmt = fmt
        self.threshold = LEVELS.get(level.upper(), 20)
        self.stream = stream if stream is not None else sys.stderr
        self._second = -1
        self._stamp = ""

    def event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        now_ms = int(time.time() * 1000)
        if self.fmt == "json":
            payload: Dict[str, Any] = {"event": event, "ts_ms": now_ms, "level": level}
            for key in _EVENT_KEYS:
                payload[key] = fields.pop(key, None)
            payload["flow_id"] = payload["flow_id"] or self.flow_id
            payload["run_id"] = payload["run_id"] or self.run_id or None
            payload.update(fields)
            line = json.dumps(payload, ensure_ascii=False, default=str)
        else:
            second = now_ms // 1000
            if second != self._second:  # formatted once per second, not per event
                self._second = second
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            stamp = self._stamp
            parts = ["%s.%03dZ %-7s %s" % (stamp, now_ms % 1000, level, event)]
            for key, value in fields.items():
                if value is None:
                    continue
                parts.append("%s=%s" % (key, _printable(str(value))))
            line = " ".join(parts)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not fail the run

    def info(self, event: str, **fields: Any) -> None:
        self.event(event, "INFO", **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.event(event, "WARNING", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.event(event, "ERROR", **fields)


def _printable(text: str) -> str:
    """One log line per event: line breaks and other control characters are escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
