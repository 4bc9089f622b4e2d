"""One typed settings object: the keys (`settings`), their parsers (`parse`), the layers they
come from (`load`)."""

from pgback.config.load import load_settings, secret_from_env
from pgback.config.settings import GROUPS, KEYS, SECRET_KEYS, KeySpec, Settings, keys_in

__all__ = [
    "GROUPS",
    "KEYS",
    "SECRET_KEYS",
    "KeySpec",
    "Settings",
    "keys_in",
    "load_settings",
    "secret_from_env",
]
