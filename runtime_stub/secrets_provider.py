"""The secrets provider: a module with decode(str) -> str and, optionally,
expand_env(dict) -> dict. AETHERFLOW_SECRETS_MODULE (an importable module) wins over
AETHERFLOW_SECRETS_PATH (a Python file).

Errors name the provider and the exception type but never the value being decoded or
the exception's message, which could hold it.
"""

from __future__ import annotations

import os

from . import TYPE_CHECKING
from .errors import ConfigError

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Callable, Dict, Optional


class SecretsProvider:
    def __init__(
        self,
        origin: str,
        decode: Callable[[str], str],
        expand_env: Optional[Callable[..., Any]],
    ) -> None:
        self.origin = origin
        self._decode = decode
        self._expand_env = expand_env

    def decode(self, value: str, where: str) -> str:
        try:
            decoded = self._decode(value)
        except Exception as exc:  # the message could echo the secret
            raise ConfigError(
                "secrets provider %s: decode failed for %s (%s)"
                % (self.origin, where, type(exc).__name__)
            ) from None
        if not isinstance(decoded, str):
            raise ConfigError(
                "secrets provider %s: decode returned %s for %s, not a string"
                % (self.origin, type(decoded).__name__, where)
            )
        return decoded

    def expand(self, env: Dict[str, str]) -> Dict[str, str]:
        if self._expand_env is None:
            return env
        try:
            expanded = self._expand_env(dict(env))
        except Exception as exc:
            raise ConfigError(
                "secrets provider %s: expand_env failed (%s)"
                % (self.origin, type(exc).__name__)
            ) from None
        if not isinstance(expanded, dict):
            raise ConfigError(
                "secrets provider %s: expand_env must return a dict" % self.origin
            )
        return {str(k): str(v) for k, v in expanded.items()}


def load_secrets_provider(
    module_name: Optional[str], path: Optional[str]
) -> Optional[SecretsProvider]:
    """The provider the settings name: AETHERFLOW_SECRETS_MODULE (an importable module)
    wins over AETHERFLOW_SECRETS_PATH (a file); None when neither is set."""
    if not module_name and not path:
        return None
    import importlib
    import importlib.util

    if module_name:
        origin = "module %s" % module_name
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ConfigError(
                "cannot import the secrets module %s (AETHERFLOW_SECRETS_MODULE): %s; with `python3 -I` "
                "PYTHONPATH is ignored, so point AETHERFLOW_SECRETS_PATH at the file instead"
                % (module_name, type(exc).__name__)
            ) from None
    else:
        origin = "file %s" % path
        full = os.path.abspath(os.path.expanduser(str(path)))
        spec = importlib.util.spec_from_file_location(
            "aetherflow_secrets_provider", full
        )
        if spec is None or spec.loader is None or not os.path.isfile(full):
            raise ConfigError(
                "the secrets file %s (AETHERFLOW_SECRETS_PATH) does not exist" % full
            )
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(
                "cannot load the secrets file %s: %s" % (full, type(exc).__name__)
            ) from None
    decode = getattr(module, "decode", None)
    if not callable(decode):
        raise ConfigError(
            "the secrets provider %s has no decode(value) function" % origin
        )
    expand_env = getattr(module, "expand_env", None)
    return SecretsProvider(origin, decode, expand_env if callable(expand_env) else None)
