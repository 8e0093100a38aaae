"""Connectors: one client object per resource and run, created on first use, closed at
the end of the run. Connector classes register themselves by (kind, driver); plugins
written for the engine register theirs the same way through aetherflow.core.api.

The cache policy of a lookup is the engine's: the call's `cache=`, else "none" when the
settings disable the cache, else the resource's `cache` (or options.cache), else the
settings' connector_cache_default ("run"). "none" builds a new connector per lookup,
never cached nor closed by the run; "process" is "run" here (an artifact runs one flow
per process); any other value behaves as "run", as in the engine."""

from __future__ import annotations

from .. import TYPE_CHECKING
from ..errors import StepError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

CONNECTOR_TYPES: Dict[Tuple[str, str], Any] = {}


class ConnectorError(StepError, RuntimeError):
    """A connector could not do its work (a missing driver package, a failed request).
    A RuntimeError, as the engine's is."""


class ConnectorInit:
    """What a connector is built from: the engine passes ONE such object positionally."""

    def __init__(
        self,
        name: str,
        kind: str,
        driver: str,
        config: Dict[str, Any],
        options: Dict[str, Any],
        ctx: Any = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.driver = driver
        self.config = config
        self.options = options
        self.ctx = ctx

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)

    # like the engine's dataclass (typeshed's object.__hash__ is a method, not None)
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:  # not the config and options: they hold decoded secrets
        return (
            "ConnectorInit(name=%r, kind=%r, driver=%r, config=<%d keys>, options=<%d keys>)"
            % (
                self.name,
                self.kind,
                self.driver,
                len(self.config or {}),
                len(self.options or {}),
            )
        )


class ConnectorBase:
    """Base class for connectors: keeps the init fields, closes quietly."""

    def __init__(self, init: ConnectorInit) -> None:
        self.name = init.name
        self.kind = init.kind
        self.driver = init.driver
        self.config = dict(init.config or {})
        self.options = dict(init.options or {})
        self.ctx = init.ctx

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


class KeptConnection(ConnectorBase):
    """A connector that keeps one connection for the run in `_conn`, opened on first
    use; close() closes it."""

    _conn: Any = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def register_connector(kind: str, driver: str) -> Any:
    def decorate(cls: Any) -> Any:
        CONNECTOR_TYPES[(kind, driver)] = cls
        return cls

    return decorate


def require_package(module: str, package: str, driver: str) -> Any:
    """Import an optional driver package, or fail naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConnectorError(
            "driver %s needs the Python package '%s' on this host (pip install %s)"
            % (driver, package, package)
        ) from None


class Connectors:
    """ctx.connectors: `connectors["name"]`, `connectors.db("name")`, `connectors.get(kind=, name=)`.
    `settings` (the run's Settings; None: the defaults) give the cache policy."""

    def __init__(
        self,
        resources: Dict[str, Dict[str, Any]],
        ctx: Any = None,
        settings: Any = None,
    ) -> None:
        self.resources = resources
        self.ctx = ctx
        self.settings = settings
        self._open: Dict[str, Any] = {}

    def cache_policy(
        self, resource: Dict[str, Any], cache: Optional[str] = None
    ) -> str:
        """The engine's policy for one lookup: "run", "process", "none" or what was given."""
        if cache:
            return cache
        settings = self.settings
        if settings is not None and getattr(
            settings, "connector_cache_disabled", False
        ):
            return "none"
        options = resource.get("options") or {}
        chosen = resource.get("cache") or (
            options.get("cache") if isinstance(options, dict) else None
        )
        if chosen:
            text = str(chosen).strip().lower()
            if text:
                return text
        default = (
            "run"
            if settings is None
            else getattr(settings, "connector_cache_default", "run")
        )
        return str(default).strip().lower() or "run"

    def get(
        self, *, kind: Optional[str] = None, name: str, cache: Optional[str] = None
    ) -> Any:
        if name not in self.resources:
            raise ConnectorError(
                "unknown resource %r (resources: %s)"
                % (name, ", ".join(sorted(self.resources)))
            )
        resource = self.resources[name]
        if kind is not None and resource["kind"] != kind:
            raise ConnectorError(
                "resource %r is of kind %s, not %s" % (name, resource["kind"], kind)
            )
        # "process" and unknown policies cache for the run; the run closes them at its end.
        cached = self.cache_policy(resource, cache) != "none"
        if cached and name in self._open:
            return self._open[name]
        connector = self._create(name, resource)
        if cached:
            self._open[name] = connector
        return connector

    def _create(self, name: str, resource: Dict[str, Any]) -> Any:
        """Cls(ConnectorInit(...)); on TypeError the legacy Cls(config, options), as the
        engine does. When both fail, the error raised inside the connector's own code wins
        over the one about the arguments."""
        kind, driver = resource["kind"], resource["driver"]
        cls = CONNECTOR_TYPES.get((kind, driver))
        if cls is None:
            raise ConnectorError(
                "no connector %s:%s is compiled into this artifact" % (kind, driver)
            )
        config = resource["config"]
        options = resource.get("options") or {}
        try:
            return cls(ConnectorInit(name, kind, driver, config, options, self.ctx))
        except TypeError as first:
            # No frame below this one: the class refused the argument, not its code.
            inside = first.__traceback__ is not None and (
                first.__traceback__.tb_next is not None
            )
            try:
                return cls(config, options)
            except TypeError:
                if inside:
                    raise first from None
                raise

    def __getitem__(self, name: str) -> Any:
        return self.get(name=name)

    def __contains__(self, name: object) -> bool:
        return name in self.resources

    def db(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="db", name=name, **kwargs)

    def mail(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="mail", name=name, **kwargs)

    def archive(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="archive", name=name, **kwargs)

    def sftp(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="sftp", name=name, **kwargs)

    def smb(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="smb", name=name, **kwargs)

    def rest(self, name: str, **kwargs: Any) -> Any:
        return self.get(kind="rest", name=name, **kwargs)

    def close_all(self) -> List[str]:
        """Close every connector opened in this run; names of those whose close failed."""
        failed = []
        for name, connector in list(self._open.items()):
            try:
                connector.close()
            except Exception:
                failed.append(name)
        self._open.clear()
        return failed
