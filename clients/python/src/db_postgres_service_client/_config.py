"""The client's settings from its arguments, else from the environment."""

import os


def setting(value: str | None, variable: str) -> str:
    """`value`, else the environment variable; neither is a ValueError naming the variable."""
    found = value if value is not None else os.environ.get(variable)
    if not found:
        raise ValueError(f"pass it as an argument or set the environment variable {variable}")
    return found


def base_url_and_key(base_url: str | None, api_key: str | None) -> tuple[str, str]:
    return setting(base_url, "DPS_BASE_URL").rstrip("/"), setting(api_key, "DPS_API_KEY")
