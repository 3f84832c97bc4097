"""Every environment variable gazoduc reads, in one table (the README's table mirrors it).

Nothing here runs when the definitions load: a value is read, and checked against its
variable's form, when a run (or a command) needs it, and a bad one is refused with a
message naming the variable and the form expected, e.g.
`ADICT_CALLS_PER_DAY='6k': expected a whole number of calls per Europe/Paris day above 0,
e.g. 6000`. How `pipelines/definitions.py` binds them: variables without a default through
`dagster.EnvVar`, the others read when the run starts (EnvVar has no default).

`GAZODUC_HOME`, when relative, is taken from the project folder (the one holding
`pipelines/`), never from the working directory: every process of a deployment (the
Dagster code server, the daemon's runs, their step workers, the CLI) started from
anywhere finds the same home. Production should set an absolute path anyway.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from resources.quota import QuotaLedger, QuotaLimits, ledger_at

PROJECT_DIR = Path(__file__).resolve().parent.parent


class SettingError(ValueError):
    """A variable's value is not of the form expected: the message names both."""


class MissingSetting(RuntimeError):
    """A required variable is not set: the message names it."""


@dataclass(frozen=True)
class Form:
    """What a variable's text must look like, and how it becomes a value."""

    expected: str
    parse: Callable[[str], Any]  # raises ValueError when the text is not of this form


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("empty")
    return raw


def _url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return raw.strip()


def _positive_number(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and value > 0):
        raise ValueError("not above 0")
    return value


def _positive_whole_number(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("not above 0")
    return value


_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


def _flag(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError("not a flag")
    return word in _TRUE


def _unset_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, with an empty value meaning "not set" (None): an optional switch."""
    return lambda raw: parse(raw) if raw.strip() else None


def _scheme_url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw.strip())
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(f"not a {'/'.join(schemes)} URL")
        return raw.strip()

    return parse


def _home(raw: str) -> Path:
    path = Path(_text(raw)).expanduser()
    return (path if path.is_absolute() else PROJECT_DIR / path).resolve()


TEXT = Form("some text", _text)
OPTIONAL_TEXT = Form("some text, or nothing", _unset_or(_text))
URL = Form("an http:// or https:// URL", _url)
RATE = Form("a number of calls per second above 0", _positive_number)
BUDGET = Form("a whole number of calls per Europe/Paris day above 0", _positive_whole_number)
DAYS = Form("a whole number of gas days above 0", _positive_whole_number)
RETENTION = Form("a whole number of days above 0", _positive_whole_number)
FLAG = Form("1 or 0 (or true/false, yes/no)", _flag)
HOME = Form("a folder path, absolute or relative to the project folder", _home)
DATABASE = Form(
    "a postgresql:// URL, or nothing (everything embedded)",
    _unset_or(_scheme_url("postgresql", "postgres")),
)
STORAGE = Form(
    "an s3://bucket/prefix URL, or nothing (files under GAZODUC_HOME)", _unset_or(_scheme_url("s3"))
)


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip() not in choices:
            raise ValueError("not a choice")
        return raw.strip()

    return parse


EXECUTOR = Form("in_process or celery", _one_of("in_process", "celery"))
BROKER = Form("a Celery broker URL (amqp:// or redis://)", _scheme_url("amqp", "pyamqp", "redis"))


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: required when the source is used
    description: str
    form: Form = TEXT
    example: str | None = None  # shown in error messages; the default when there is one
    secret: bool = False

    def check(self, raw: str) -> Any:
        """The value `raw` stands for, or a SettingError naming the variable."""
        try:
            return self.form.parse(raw)
        except ValueError:
            shown = "(hidden)" if self.secret else repr(raw)
            example = self.example or self.default
            hint = f", e.g. {example}" if example else ""
            raise SettingError(
                f"{self.name}={shown}: expected {self.form.expected}{hint}"
            ) from None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "GAZODUC_HOME",
        ".gazoduc",
        "Root of the warehouse, raw zone, state and catalog; relative: to the project folder.",
        HOME,
    ),
    Setting(
        "GAZODUC_WAREHOUSE",
        "ducklake:sqlite:$GAZODUC_HOME/warehouse.sqlite",
        "DuckLake attach string of the warehouse catalog (data under $GAZODUC_HOME/warehouse/).",
    ),
    Setting(
        "GAZODUC_SNAPSHOT_RETENTION_DAYS",
        "30",
        "Days of warehouse history kept for time travel; `warehouse maintain` expires older.",
        RETENTION,
    ),
    Setting(
        "GAZODUC_DATABASE_URL",
        "",
        "Shared state on PostgreSQL: Dagster's storage, the quota ledger, the raw-zone "
        "manifest and the warehouse catalog. Unset: all embedded under GAZODUC_HOME.",
        DATABASE,
        "postgresql://gazoduc:<password>@db.internal:5432/gazoduc",
        secret=True,
    ),
    Setting(
        "GAZODUC_STORAGE_URL",
        "",
        "Shared files on S3-compatible storage: the raw zone's answers and the warehouse's "
        "Parquet. Unset: under GAZODUC_HOME. Credentials: the AWS_* variables.",
        STORAGE,
        "s3://gazoduc-data/prod",
    ),
    Setting(
        "AWS_ENDPOINT_URL",
        "",
        "S3-compatible endpoint of GAZODUC_STORAGE_URL (unset: AWS itself).",
        Form("an http:// or https:// URL, or nothing (AWS)", _unset_or(_url)),
        "https://s3.fr-par.scw.cloud",
    ),
    Setting("AWS_ACCESS_KEY_ID", "", "Access key of GAZODUC_STORAGE_URL."),
    Setting("AWS_SECRET_ACCESS_KEY", "", "Secret key of GAZODUC_STORAGE_URL.", secret=True),
    Setting("AWS_REGION", "us-east-1", "Region of GAZODUC_STORAGE_URL's bucket."),
    Setting(
        "GAZODUC_EXECUTOR",
        "in_process",
        "Where a run's steps run: in its own process, or on `gazoduc worker` processes "
        "(celery, through GAZODUC_CELERY_BROKER). Read when the run starts.",
        EXECUTOR,
    ),
    Setting(
        "GAZODUC_CELERY_BROKER",
        "amqp://guest:guest@127.0.0.1:5672//",
        "Broker of the Celery step workers (`gazoduc worker`).",
        BROKER,
        secret=True,
    ),
    Setting(
        "GAZODUC_KEEP_PERSONAL_DATA",
        "0",
        "1 to land holder personal data (names, e-mails, phones, postcodes, street addresses).",
        FLAG,
    ),
    Setting("ADICT_BASE_URL", None, "ADICT API root.", URL, "https://api.grdf.fr/adict/v2"),
    Setting(
        "ADICT_TOKEN_URL",
        None,
        "OAuth2 token URL GRDF sent you (Okta in production).",
        URL,
        "https://<your okta tenant>/oauth2/<server>/v1/token",
    ),
    Setting("ADICT_CLIENT_ID", None, "OAuth2 client id."),
    Setting("ADICT_CLIENT_SECRET", None, "OAuth2 client secret.", secret=True),
    Setting("ADICT_SCOPE", "/adict/v2", "OAuth2 scope."),
    Setting(
        "ADICT_CALLS_PER_SECOND", "1", "Calls per second allowed for this client (1 or 3).", RATE
    ),
    Setting(
        "ADICT_CALLS_PER_DAY",
        "6000",
        "Calls per Europe/Paris day for this client (6000, 60000 or 240000).",
        BUDGET,
    ),
    Setting("INGRID_BASE_URL", None, "Ingrid API root.", URL, "https://api.ingrid.grtgaz.com"),
    Setting(
        "INGRID_TOKEN_URL",
        None,
        "Ingrid OAuth2 token URL.",
        URL,
        "https://auth-api.offre.grtgaz.com/oauth2/token",
    ),
    Setting("INGRID_CLIENT_ID", None, "OAuth2 client id GRTgaz sent you."),
    Setting("INGRID_CLIENT_SECRET", None, "OAuth2 client secret.", secret=True),
    Setting("INGRID_CONTRACT_CODE", None, "Your shipper contract code."),
    Setting(
        "INGRID_CALLS_PER_SECOND",
        "1",
        "Politeness: Ingrid calls per second (none published).",
        RATE,
    ),
    Setting(
        "INGRID_CALLS_PER_DAY", "10000", "Politeness: Ingrid calls per Europe/Paris day.", BUDGET
    ),
    Setting(
        "INGRID_REREAD_DAYS",
        "7",
        "Gas days the daily Ingrid run re-reads (GRTgaz corrects recent days).",
        DAYS,
    ),
    Setting("SFM_BASE_URL", None, "SFM API root.", URL, "https://api.grtgaz.com/sfm/v1"),
    Setting(
        "SFM_TOKEN_URL",
        None,
        "Azure AD token URL (seed 001 §11.2).",
        URL,
        "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
    ),
    Setting("SFM_CLIENT_ID", None, "Azure AD application (client) id GRTgaz registered."),
    Setting("SFM_SCOPE", None, "api://<GRTgaz app id>/.default"),
    Setting("SFM_CERT_FILE", None, "PEM certificate sent to GRTgaz (renew a month ahead)."),
    Setting("SFM_KEY_FILE", None, "Path of its PEM private key (keep the file 0600)."),
    Setting(
        "SFM_CALLS_PER_SECOND", "1", "Politeness: SFM calls per second (none published).", RATE
    ),
    Setting("SFM_CALLS_PER_DAY", "10000", "Politeness: SFM calls per Europe/Paris day.", BUDGET),
)
BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> str:
    """The variable's text, or its default; a clear error naming it if it is required."""
    spec = BY_NAME[name]
    value = os.environ.get(name) or spec.default
    if value is None:
        raise MissingSetting(f"environment variable {name} is not set: {spec.description}")
    return value


def read(name: str, given: object = None) -> Any:
    """The value of a variable, checked against its form: `given` (a resource field set in
    code) when there is one, else the environment's, else the default."""
    raw = setting(name) if given is None else str(given)
    return BY_NAME[name].check(raw)


def gazoduc_home(given: str | None = None) -> Path:
    """The absolute home: the one place a relative GAZODUC_HOME is resolved (see above)."""
    return read("GAZODUC_HOME", given)


def database_url() -> str | None:
    """The shared PostgreSQL database, or None: everything embedded."""
    return read("GAZODUC_DATABASE_URL")


def storage_url() -> str | None:
    """The shared S3 location of the files, or None: under GAZODUC_HOME."""
    return read("GAZODUC_STORAGE_URL")


def celery_broker() -> str:
    return read("GAZODUC_CELERY_BROKER")


def keep_personal_data() -> bool:
    return read("GAZODUC_KEEP_PERSONAL_DATA")


def calls_per_second(api: str, given: float | None = None) -> float:
    return read(f"{api.upper()}_CALLS_PER_SECOND", given)


def daily_budget(api: str, given: int | None = None) -> int:
    return read(f"{api.upper()}_CALLS_PER_DAY", given)


def api_ledger(api: str) -> QuotaLedger:
    """The shared ledger of the configured client of an API, for the operator commands."""
    limits = QuotaLimits(calls_per_second(api), daily_budget(api))
    client = setting(f"{api.upper()}_CLIENT_ID")
    where = ledger_at(gazoduc_home() / "state", database_url())
    return QuotaLedger(where, api, client, limits)
