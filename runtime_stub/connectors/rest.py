"""rest:httpx: an HTTP client for plugin steps (`ctx.connectors["api"]`), with httpx on
the host. As with the engine, a request returns httpx's Response as it is (a 4xx or 5xx
status is an answer, not an error), and only requests that got no answer are retried:
httpx.HTTPError (refused or dropped connections, timeouts).

config: base_url, headers, bearer_token (sent as `Authorization: Bearer ...` unless the
headers have an Authorization). options: timeout or timeouts.total (seconds, default 30),
retries or retry.max_attempts (attempts after the first, default 0; waits of 1, 2, 4, 5,
5... seconds between them), verify_ssl (default true) and, beyond the engine, ca_file (a
PEM file with the certificate authorities to verify the server against).
"""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..results import to_bool
from . import ConnectorBase, ConnectorError, register_connector, require_package

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Optional


def _nested_option(options: Any, *keys: str, default: Any = None) -> Any:
    """options[k1][k2]...; `default` when a level is missing or not a mapping."""
    current = options
    for key in keys:
        if not isinstance(current, dict) or key not in current:
            return default
        current = current[key]
    return current


@register_connector("rest", "httpx")
class HttpxRest(ConnectorBase):
    """The engine's HttpxREST: client()/async_client() (one each per run, closed at its
    end), request() with get/post/put/delete, base_url() and headers()."""

    _sync: Any = None
    _async: Any = None

    def _timeout(self) -> float:
        total = _nested_option(self.options, "timeouts", "total", default=30)
        return float(_nested_option(self.options, "timeout", default=total) or 30)

    def _retries(self) -> int:
        flat = _nested_option(self.options, "retries", default=0)
        return int(
            _nested_option(self.options, "retry", "max_attempts", default=flat) or 0
        )

    def _verify(self) -> Any:
        if not to_bool(self.options.get("verify_ssl", True), "verify_ssl"):
            return False
        ca_file = self.options.get("ca_file")
        if not ca_file:
            return True
        import ssl

        return ssl.create_default_context(cafile=str(ca_file))

    def base_url(self) -> str:
        return str(self.config.get("base_url") or "").rstrip("/")

    def headers(self) -> Dict[str, str]:
        headers = {
            str(k): str(v) for k, v in (self.config.get("headers") or {}).items()
        }
        token = self.config.get("bearer_token")
        if token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = "Bearer %s" % token
        return headers

    def _client_settings(self) -> Dict[str, Any]:
        return {
            "base_url": self.base_url(),
            "headers": self.headers(),
            "timeout": self._timeout(),
            "verify": self._verify(),
        }

    def client(self) -> Any:
        """The run's httpx.Client."""
        if self._sync is None:
            httpx = require_package("httpx", "httpx", "rest:httpx")
            self._sync = httpx.Client(**self._client_settings())
        return self._sync

    def async_client(self) -> Any:
        """The run's httpx.AsyncClient, for steps that run their own event loop."""
        if self._async is None:
            httpx = require_package("httpx", "httpx", "rest:httpx")
            self._async = httpx.AsyncClient(**self._client_settings())
        return self._async

    def close(self) -> None:
        sync, self._sync = self._sync, None
        async_client, self._async = self._async, None
        try:
            if sync is not None:
                sync.close()
        finally:
            if async_client is not None:
                import asyncio

                try:
                    asyncio.run(async_client.aclose())
                except Exception:
                    pass  # best effort, as the engine: a loop that is gone closed it

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Optional[Dict[str, Any]] = None,
        headers: Optional[Dict[str, Any]] = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        content: Any = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """The httpx.Response; ConnectorError when every attempt failed to get one."""
        import time

        httpx = require_package("httpx", "httpx", "rest:httpx")
        client = self.client()
        attempts = max(1, 1 + self._retries())
        failure: Any = None
        for attempt in range(attempts):
            try:
                return client.request(
                    method=method,
                    url=url,
                    params=params,
                    headers=headers,
                    json=json,
                    data=data,
                    files=files,
                    content=content,
                    timeout=timeout or self._timeout(),
                )
            except httpx.HTTPError as exc:
                failure = exc
                if attempt + 1 < attempts:
                    time.sleep(min(2**attempt, 5))
        raise ConnectorError(
            "REST request failed after %d attempt(s): %s %s (%s: %s)"
            % (attempts, method, url, type(failure).__name__, failure)
        ) from failure

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)
