"""Connectors: one client object per resource and run, created on first use, closed at
the end of the run. Connector classes register themselves by (kind, driver); plugins
written for the engine register theirs the same way through aetherflow.core.api."""

from __future__ import annotations

from ..errors import StepError

if False:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List, Optional, Tuple

CONNECTOR_TYPES: Dict[Tuple[str, str], Any] = {}


class ConnectorError(StepError):
    """A connector could not do its work (a missing driver package, a failed request)."""


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


def remote_file(
    path: str, name: str, is_dir: bool, size: Any, mtime: Any, rel_path: Any = None
) -> Dict[str, Any]:
    """The engine's RemoteFileMeta, as a plain mapping (it is stored as JSON)."""
    return {
        "rel_path": rel_path,
        "path": path,
        "name": name,
        "is_dir": is_dir,
        "size": size,
        "mtime": mtime,
    }


class Connectors:
    """ctx.connectors: `connectors["name"]`, `connectors.db("name")`, `connectors.get(kind=, name=)`."""

    def __init__(self, resources: Dict[str, Dict[str, Any]], ctx: Any = None) -> None:
        self.resources = resources
        self.ctx = ctx
        self._open: Dict[str, Any] = {}

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
        if name in self._open and cache != "none":
            return self._open[name]
        cls = CONNECTOR_TYPES.get((resource["kind"], resource["driver"]))
        if cls is None:
            raise ConnectorError(
                "no connector %s:%s is compiled into this artifact"
                % (resource["kind"], resource["driver"])
            )
        init = ConnectorInit(
            name,
            resource["kind"],
            resource["driver"],
            resource["config"],
            resource["options"],
            self.ctx,
        )
        connector = cls(init)
        if cache != "none":
            self._open[name] = connector
        return connector

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
