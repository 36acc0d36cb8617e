"""Downloads that go with every table the studio gives: what made it (the provenance sidecar)."""
from __future__ import annotations

from fer_core.catalog import provenance


def provenance_button(where, record: dict, csv_name: str, key: str | None = None) -> None:
    """The download of a CSV's provenance sidecar (``<csv>.provenance.json``, as ``predict --csv`` writes)."""
    where.download_button("Provenance (JSON)", provenance.to_json(record).encode(), csv_name + provenance.SIDECAR_SUFFIX,
                          "application/json", key=key, on_click="ignore", icon=":material/download:",
                          help="What made the CSV: model, weights' sha256, version, detector, TTA, neutral baseline")
