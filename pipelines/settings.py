"""Every environment variable gazoduc reads, in one table (the README's table mirrors it).

Secrets and connection settings are bound with `dagster.EnvVar` in `definitions.py`, so
Dagster shows which variable a value comes from and never stores the value itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from resources.quota import QuotaLedger, QuotaLimits, ledger_path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: required when the source is used
    description: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("GAZODUC_HOME", ".gazoduc", "Root of the warehouse, raw zone, state and catalog."),
    Setting(
        "GAZODUC_KEEP_PERSONAL_DATA",
        "0",
        "1 to land holder personal data (names, e-mails, phones, postcodes, street addresses).",
    ),
    Setting("ADICT_BASE_URL", None, "ADICT API root, e.g. https://api.grdf.fr/adict/v2"),
    Setting("ADICT_TOKEN_URL", None, "OAuth2 token URL GRDF sent you (Okta in production)."),
    Setting("ADICT_CLIENT_ID", None, "OAuth2 client id."),
    Setting("ADICT_CLIENT_SECRET", None, "OAuth2 client secret.", secret=True),
    Setting("ADICT_SCOPE", "/adict/v2", "OAuth2 scope."),
    Setting("ADICT_CALLS_PER_SECOND", "1", "Calls per second allowed for this client (1 or 3)."),
    Setting(
        "ADICT_CALLS_PER_DAY",
        "6000",
        "Calls per Europe/Paris day for this client (6000, 60000 or 240000).",
    ),
    Setting("INGRID_BASE_URL", None, "Ingrid API root, e.g. https://api.ingrid.grtgaz.com"),
    Setting("INGRID_TOKEN_URL", None, "e.g. https://auth-api.offre.grtgaz.com/oauth2/token"),
    Setting("INGRID_CLIENT_ID", None, "OAuth2 client id GRTgaz sent you."),
    Setting("INGRID_CLIENT_SECRET", None, "OAuth2 client secret.", secret=True),
    Setting("INGRID_CONTRACT_CODE", None, "Your shipper contract code."),
    Setting(
        "INGRID_CALLS_PER_SECOND", "1", "Politeness: Ingrid calls per second (none published)."
    ),
    Setting("INGRID_CALLS_PER_DAY", "10000", "Politeness: Ingrid calls per Europe/Paris day."),
    Setting(
        "INGRID_REREAD_DAYS",
        "7",
        "Gas days the daily Ingrid run re-reads (GRTgaz corrects recent days).",
    ),
    Setting("SFM_BASE_URL", None, "SFM API root, e.g. https://api.grtgaz.com/sfm/v1"),
    Setting("SFM_TOKEN_URL", None, "Azure AD token URL (…/oauth2/v2.0/token, seed 001 §11.2)."),
    Setting("SFM_CLIENT_ID", None, "Azure AD application (client) id GRTgaz registered."),
    Setting("SFM_SCOPE", None, "api://<GRTgaz app id>/.default"),
    Setting("SFM_CERT_FILE", None, "PEM certificate sent to GRTgaz (renew a month ahead)."),
    Setting("SFM_KEY_FILE", None, "Path of its PEM private key (keep the file 0600)."),
    Setting("SFM_CALLS_PER_SECOND", "1", "Politeness: SFM calls per second (none published)."),
    Setting("SFM_CALLS_PER_DAY", "10000", "Politeness: SFM calls per Europe/Paris day."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


class MissingSetting(RuntimeError):
    pass


def setting(name: str) -> str:
    """The variable's value, or its default; a clear error naming it if it is required."""
    spec = _BY_NAME[name]
    value = os.environ.get(name) or spec.default
    if value is None:
        raise MissingSetting(f"environment variable {name} is not set: {spec.description}")
    return value


def gazoduc_home() -> Path:
    return Path(setting("GAZODUC_HOME")).resolve()


def keep_personal_data() -> bool:
    return setting("GAZODUC_KEEP_PERSONAL_DATA").strip().lower() in {"1", "true", "yes"}


def pacing(api: str) -> dict[str, float | int | str]:
    """An upstream resource's pace and ledger place, from `<API>_CALLS_PER_*` settings."""
    prefix = api.upper()
    return {
        "calls_per_second": float(setting(f"{prefix}_CALLS_PER_SECOND")),
        "calls_per_day": daily_budget(api),
        "state_dir": str(gazoduc_home() / "state"),
    }


def daily_budget(api: str) -> int:
    return int(setting(f"{api.upper()}_CALLS_PER_DAY"))


def api_ledger(api: str) -> QuotaLedger:
    """The shared ledger of the configured client of an API, for the operator commands."""
    pace = pacing(api)
    limits = QuotaLimits(float(pace["calls_per_second"]), int(pace["calls_per_day"]))
    client = setting(f"{api.upper()}_CLIENT_ID")
    return QuotaLedger(ledger_path(Path(str(pace["state_dir"]))), api, client, limits)
