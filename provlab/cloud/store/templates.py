"""Templates as the store keeps them: name, root org, datastreams, event codes and metafields (cached)."""

from __future__ import annotations

from collections.abc import Iterable

from provlab.cloud.records import Datastream, DataType, MetaField, Template
from provlab.cloud.store.database import Database
from provlab.cloud.store.errors import StoreError


class TemplateRepository:
    """Template rows with their datastreams, event codes and metafields; templates never change, so the
    ones read once are kept in memory."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._cache: dict[str, Template] = {}

    def create(
        self,
        template_id: str,
        name: str,
        org_id: int,
        *,
        datastreams: Iterable[Datastream] = (),
        event_codes: Iterable[str] = (),
        metafields: Iterable[MetaField] = (),
    ) -> Template:
        if not template_id.startswith("TMPL"):
            raise StoreError(f"template id must start with 'TMPL', got {template_id!r}")
        with self._database.transaction() as db:
            db.execute("INSERT INTO templates (id, name, org_id) VALUES (?, ?, ?)", (template_id, name, org_id))
            db.executemany(
                "INSERT INTO datastreams (template_id, id, pin, name, data_type) VALUES (?, ?, ?, ?, ?)",
                [(template_id, d.id, d.pin.lower(), d.name, d.data_type.value) for d in datastreams],
            )
            db.executemany(
                "INSERT INTO template_events (template_id, code) VALUES (?, ?)",
                [(template_id, code) for code in event_codes],
            )
            db.executemany(
                "INSERT INTO metafields (template_id, id, name) VALUES (?, ?, ?)",
                [(template_id, m.id, m.name) for m in metafields],
            )
        self._cache.pop(template_id, None)
        found = self.get(template_id)
        assert found is not None
        return found

    def get(self, template_id: str) -> Template | None:
        cached = self._cache.get(template_id)
        if cached is not None:
            return cached
        query = self._database.query
        rows = query("SELECT id, name, org_id FROM templates WHERE id = ?", (template_id,))
        if not rows:
            return None
        streams = tuple(
            Datastream(r["id"], r["pin"], r["name"], DataType(r["data_type"]))
            for r in query(
                "SELECT id, pin, name, data_type FROM datastreams WHERE template_id = ? ORDER BY id", (template_id,)
            )
        )
        codes = tuple(
            r["code"]
            for r in query("SELECT code FROM template_events WHERE template_id = ? ORDER BY code", (template_id,))
        )
        fields = tuple(
            MetaField(r["id"], r["name"])
            for r in query("SELECT id, name FROM metafields WHERE template_id = ? ORDER BY id", (template_id,))
        )
        template = Template(rows[0]["id"], rows[0]["name"], rows[0]["org_id"], streams, codes, fields)
        with self._database.lock:
            self._cache[template_id] = template
        return template

    def all(self) -> list[Template]:
        ids = [r["id"] for r in self._database.query("SELECT id FROM templates ORDER BY id")]
        return [t for t in (self.get(i) for i in ids) if t is not None]
