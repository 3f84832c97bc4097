"""The ADICT tables: columns named as GRDF names them, flattened and typed."""

from __future__ import annotations

from warehouse.columns import Kind, col
from warehouse.store import TableSpec

D, F, T, B, V = Kind.DOUBLE, Kind.DATE, Kind.TIMESTAMP, Kind.BOOL, Kind.VRAI_FAUX


def _releve(side: str) -> list:
    """`releve_debut` / `releve_fin`: the meter readings bounding a consumption block."""
    base = f"releve_{side}"
    return [
        col(f"{base}_date_releve", f"{base}.date_releve", T),
        col(f"{base}_raison_releve", f"{base}.raison_releve"),
        col(f"{base}_libelle_raison_releve", f"{base}.libelle_raison_releve"),
        col(f"{base}_qualite_releve", f"{base}.qualite_releve"),
        col(f"{base}_statut_releve", f"{base}.statut_releve"),
        col(f"{base}_index_brut", f"{base}.index_brut_{side}.valeur_index", D),
        col(f"{base}_horodate_index_brut", f"{base}.index_brut_{side}.horodate_Index", T),
        col(f"{base}_index_converti", f"{base}.index_converti_{side}.valeur_index", D),
        col(f"{base}_horodate_index_converti", f"{base}.index_converti_{side}.horodate_Index", T),
    ]


def _flow(obj: str, period: str, suffix: str) -> list:
    """The `consommation` or `injection` object of a block (Swagger Model_1 / Model_5)."""
    return [
        col("id_pce", "pce.id_pce"),
        col("journee_gaziere", f"{obj}.journee_gaziere", F),
        col(f"date_debut_{period}", f"{obj}.date_debut_{period}", T),
        col(f"date_fin_{period}", f"{obj}.date_fin_{period}", T),
        col("energie", f"{obj}.energie", D),
        col("volume_brut", f"{obj}.volume_brut", D),
        col("volume_converti", f"{obj}.volume_converti", D),
        col("coeff_conversion", f"{obj}.coeff_calcul.coeff_conversion", D),
        col("valeur_pcs", f"{obj}.coeff_calcul.valeur_pcs", D),
        col("coeff_pta", f"{obj}.coeff_calcul.coeff_pta", D),
        col(f"type_qualif_{suffix}", f"{obj}.type_qualif_{suffix}"),
        col(f"statut_{suffix}", f"{obj}.statut_{suffix}"),
        col("sens_flux_gaz", f"{obj}.sens_flux_gaz"),
        col(f"type_{suffix}", f"{obj}.type_{suffix}"),
        col("flag_retour_zero", f"{obj}.flag_retour_zero", B),
        *_releve("debut"),
        *_releve("fin"),
    ]


def _last_gas_day_sql(end_column: str) -> str:
    """A published block's last gas day (the one its period ends in): its partition day."""
    local_end = f"timezone('Europe/Paris', old.{end_column})"
    day = f"CAST({local_end} - INTERVAL '6 hours 1 microsecond' AS DATE)"
    return f"coalesce(old.journee_gaziere, {day})"


_BORDEREAU = [
    col("date_debut_bordereau", "bordereau_publication.date_debut_bordereau", F),
    col("date_fin_bordereau", "bordereau_publication.date_fin_bordereau", F),
    col("nb_jour_gazier", "bordereau_publication.nb_jour_gazier", D),
]

INFORMATIVE_CONSUMPTION = TableSpec(
    "adict",
    "informative_consumption",
    tuple(_flow("consommation", "consommation", "conso")),
    partition_key="month",
    key=("id_pce", "journee_gaziere"),
    day_sql="old.journee_gaziere",
)


def _published(name: str, obj: str, suffix: str) -> TableSpec:
    """A published table: one row per block, partitioned by the month of its last gas day."""
    start, end = f"date_debut_{obj}", f"date_fin_{obj}"
    return TableSpec(
        "adict",
        name,
        (*_flow(obj, obj, suffix), *_BORDEREAU),
        partition_key="month",
        key=("id_pce", start, end),
        day_sql=_last_gas_day_sql(end),
    )


PUBLISHED_CONSUMPTION = _published("published_consumption", "consommation", "conso")
PUBLISHED_INJECTION = _published("published_injection", "injection", "injection")

ACCESS_RIGHTS = TableSpec(
    "adict",
    "access_rights",
    (
        col("id_droit_acces"),
        col("id_pce"),
        col("role_tiers"),
        col("raison_sociale_du_tiers"),
        col("nom_titulaire", personal=True),
        col("raison_sociale_du_titulaire"),
        col("courriel_titulaire", personal=True),
        col("numero_telephone_mobile_titulaire", personal=True),
        col("code_postal", personal=True),
        col("date_debut_droit_acces", kind=F),
        col("date_fin_droit_acces", kind=F),
        col("perim_donnees_conso_debut", kind=F),
        col("perim_donnees_conso_fin", kind=F),
        col("perim_donnees_inj_debut", kind=F),
        col("perim_donnees_inj_fin", kind=F),
        col("perim_donnees_contractuelles", kind=V),
        col("perim_donnees_techniques", kind=V),
        col("perim_donnees_informatives", kind=V),
        col("perim_donnees_publiees", kind=V),
        col("date_creation", kind=T),
        col("etat_droit_acces"),
        col("date_revocation", kind=T),
        col("source_revocation"),
        col("date_passage_a_obsolete", kind=T),
        col("source_passage_a_obsolete"),
        col("date_passage_a_refuse", kind=T),
        col("source_passage_a_refuse"),
        col("parcours"),
        col("statut_controle_preuve"),
        col("date_limite_transmission_preuve", kind=F),
    ),
    partition_key="snapshot_date",
    key=("id_droit_acces",),
)

CONTRACTUAL_DATA = TableSpec(
    "adict",
    "contractual_data",
    (
        col("id_pce", "pce.id_pce"),
        col("car", "donnees_contractuelles.car", D),
        col("cja", "donnees_contractuelles.cja", D),
        col("profil_type_actuel", "donnees_contractuelles.profil.profil_type_actuel"),
        col("tarif_acheminement", "donnees_contractuelles.tarif_acheminement"),
        col("date_mes", "donnees_contractuelles.date_mes", F),
    ),
    partition_key="snapshot_month",
    key=("id_pce",),
)

TECHNICAL_DATA = TableSpec(
    "adict",
    "technical_data",
    (
        col("id_pce", "pce.id_pce"),
        # The street address of a home meter identifies its holder: opt-in, like the rights.
        *(
            col(name, f"donnees_techniques.situation_compteur.{name}", personal=True)
            for name in ("numero_rue", "nom_rue", "complement_adresse")
        ),
        col("code_postal", "donnees_techniques.situation_compteur.code_postal"),
        col("commune", "donnees_techniques.situation_compteur.commune"),
        col("frequence", "donnees_techniques.caracteristiques_compteur.frequence"),
        col(
            "client_sensible_mig",
            "donnees_techniques.caracteristiques_compteur.client_sensible_mig",
        ),
        col("identifiant_pitd", "donnees_techniques.pitd.identifiant_pitd"),
        col("libelle_pitd", "donnees_techniques.pitd.libelle_pitd"),
    ),
    partition_key="snapshot_month",
    key=("id_pce",),
)

# The history of each right, from the daily snapshots: no holder data, ever.
ACCESS_RIGHT_EVENTS = TableSpec(
    "adict",
    "access_right_events",
    (
        col("id_droit_acces"),
        col("id_pce"),
        col("seen_on", kind=F),  # the snapshot that first showed the change
        col("event"),  # appeared, state_changed, proof_status_changed, disappeared
        col("etat_droit_acces_before"),
        col("etat_droit_acces"),
        col("statut_controle_preuve_before"),
        col("statut_controle_preuve"),
    ),
    partition_key="month",
    key=("id_droit_acces", "seen_on", "event"),
    scope_column=None,
)

TABLES = {
    spec.name: spec
    for spec in (
        ACCESS_RIGHTS,
        INFORMATIVE_CONSUMPTION,
        PUBLISHED_CONSUMPTION,
        PUBLISHED_INJECTION,
        CONTRACTUAL_DATA,
        TECHNICAL_DATA,
        ACCESS_RIGHT_EVENTS,
    )
}
