//! `smsgate migrate --from sqlite:PATH --to postgresql://…`: moves a single
//! host's SQLite store into an empty PostgreSQL database, so that host (and
//! others) carry on from there as a cluster.
//!
//! Generic over the schema: it copies every table the SQLite file has
//! (messages in every state with their parts, the inbox and received PDUs,
//! status reports, events and cursors, webhooks and their deliveries,
//! campaigns, opt-out, verification codes, tokens, the report's summary
//! tables, …), column by column by name, keeping every id, and refuses
//! when the two schemas do not have the same tables and columns, so a
//! table added later cannot be skipped silently (SQLite's implicit `rowid`
//! goes into the identity column PostgreSQL names for it, `send_log.id`). Parent tables go before
//! the tables that reference them (the foreign keys of the SQLite schema).
//!
//! Rules: the SQLite file is opened read-only, in one read transaction (a
//! consistent snapshot; stop the daemon first, so nothing changes after
//! it); it must be at this binary's schema version (start the daemon on it
//! once to migrate it). The PostgreSQL database is created at the same
//! version when it has no schema yet; one at another version, or with any
//! row in any table, is refused. The whole copy is one PostgreSQL
//! transaction with every table locked: a failure leaves the database as it
//! was. The summary tables (migration 12) are copied as they are, with the
//! triggers that keep them off during the copy (`DISABLE TRIGGER USER`,
//! which needs the tables' owner: the role that created the schema). Last,
//! every identity sequence is set past the largest id copied (and past
//! SQLite's `AUTOINCREMENT` counter, so an event id is never handed out
//! twice). The verification codes' key, which a single host keeps in
//! `verify.key` beside its SQLite file, goes into the `secret` table in the
//! same transaction (a cluster keeps it there), so codes sent before the
//! migration still check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::sql::{args, Db, PgConn, Value};
use super::{schema, schema_pg, StoreError};

/// How many rows one INSERT carries at most (PostgreSQL takes at most
/// 65,535 parameters a statement).
const CHUNK_ROWS: usize = 500;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The migration was refused before anything was written.
    #[error("{0}")]
    Refused(String),
    /// A database error (the PostgreSQL transaction was rolled back).
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What was copied: each table with its row count, in copy order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    pub version: usize,
    pub tables: Vec<(String, u64)>,
    /// The verification codes' key (`verify.key` beside the SQLite file)
    /// was carried into the database.
    pub verify_key: bool,
}

impl Migrated {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

/// A value read from SQLite, owned until it is written.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    fn of(v: Value<'_>) -> Owned {
        match v {
            Value::Null => Owned::Null,
            Value::Int(i) => Owned::Int(i),
            Value::Real(f) => Owned::Real(f),
            Value::Text(s) => Owned::Text(s.to_string()),
            Value::Blob(b) => Owned::Blob(b.to_vec()),
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(i) => Value::Int(*i),
            Owned::Real(f) => Value::Real(*f),
            Owned::Text(s) => Value::Text(s),
            Owned::Blob(b) => Value::Blob(b),
        }
    }
}

/// `sqlite:PATH` (or a bare path) → the path.
pub fn sqlite_path(from: &str) -> &Path {
    Path::new(from.strip_prefix("sqlite:").unwrap_or(from))
}

/// Copies the SQLite store at `from` into the PostgreSQL database at `to`,
/// with the verification codes' key of `verify.key` beside it (see
/// [`verify_key_beside`]). Blocks (the blocking PostgreSQL client): call it
/// outside an async runtime.
pub fn migrate(from: &Path, to: &str) -> Result<Migrated, MigrateError> {
    if !from.is_file() {
        return Err(MigrateError::Refused(format!(
            "{}: no such SQLite store",
            from.display()
        )));
    }
    let key = verify_key_beside(from)?;
    let lite = open_sqlite(from)?;
    let pg = PgConn::connect(to).map_err(|e| {
        MigrateError::Refused(format!("cannot connect to {}: {e}", super::redact_url(to)))
    })?;
    copy(&lite, &pg, key.as_ref())
}

/// The verification codes' HMAC key of the single host whose SQLite store
/// is at `sqlite`: `verify.key` in the same directory (where the daemon
/// keeps it), if codes were ever sent. A cluster keeps the key in its
/// database (`secret`), so the copy carries it there: codes sent before the
/// migration still check afterwards, on every host. A file that is not a
/// key refuses the migration (it would be lost silently otherwise).
pub fn verify_key_beside(sqlite: &Path) -> Result<Option<[u8; 32]>, MigrateError> {
    let path = sqlite.parent().unwrap_or(Path::new(".")).join("verify.key");
    match std::fs::read(&path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| {
                MigrateError::Refused(format!(
                    "{} is not a verification key (32 bytes, it has {}): move it away to \
                     migrate without it (codes sent before then no longer check)",
                    path.display(),
                    bytes.len()
                ))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MigrateError::Refused(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

/// Opens the SQLite file read-only (it must exist; nothing is created).
fn open_sqlite(path: &Path) -> Result<Connection, MigrateError> {
    let open = |e: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open)?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open)?;
    Ok(c)
}

/// The copy itself, from an open SQLite connection into an open
/// PostgreSQL one.
pub(crate) fn copy(
    lite: &Connection,
    pg: &dyn Db,
    verify_key: Option<&[u8; 32]>,
) -> Result<Migrated, MigrateError> {
    let known = schema::MIGRATIONS.len();
    let found: i64 = lite
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::sql("read the SQLite schema version"))?;
    if found != known as i64 {
        return Err(MigrateError::Refused(format!(
            "the SQLite store is at schema version {found}, this smsgate writes version \
             {known}: {}",
            if found < known as i64 {
                "start this smsgate's daemon on it once (it migrates the file), stop it, then migrate"
            } else {
                "use the smsgate that wrote it"
            }
        )));
    }
    // The PostgreSQL schema: created when absent, else at the same version.
    let has_schema: bool = pg
        .query_one(
            "SELECT to_regclass('smsgate_schema') IS NOT NULL",
            args![],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("look for the schema"))?;
    if has_schema {
        let version: i64 = pg
            .query_one("SELECT version FROM smsgate_schema", args![], |r| r.get(0))
            .map_err(StoreError::sql("read the PostgreSQL schema version"))?;
        if version != known as i64 {
            return Err(MigrateError::Refused(format!(
                "the PostgreSQL database is at schema version {version}, the SQLite store at \
                 {known}: migrate into an empty database (or one this smsgate created)"
            )));
        }
    } else {
        schema_pg::migrate_pg(pg)?;
    }
    let tables = plan(lite, pg)?;
    lite.execute_batch("BEGIN")
        .map_err(StoreError::sql("begin the read"))?;
    pg.batch("BEGIN").map_err(StoreError::sql("begin"))?;
    let result = copy_in_transaction(lite, pg, &tables).and_then(|tables| {
        if let Some(key) = verify_key {
            super::verify::secret(pg, super::verify::VERIFY_KEY, key, chrono::Utc::now())?;
        }
        Ok(tables)
    });
    let _ = lite.execute_batch("COMMIT");
    match result {
        Ok(tables) => {
            pg.batch("COMMIT").map_err(StoreError::sql("commit"))?;
            Ok(Migrated {
                version: known,
                tables,
                verify_key: verify_key.is_some(),
            })
        }
        Err(e) => {
            let _ = pg.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// One table to copy: its name, the columns both schemas have, and the
/// PostgreSQL identity column that holds SQLite's implicit `rowid` where
/// SQLite has no column for it (the send log).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    name: String,
    columns: Vec<String>,
    rowid_as: Option<String>,
}

impl Table {
    /// What to select from SQLite, in order.
    fn sources(&self) -> Vec<String> {
        let mut v: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        v.extend(self.rowid_as.iter().map(|_| "rowid".to_string()));
        v
    }

    /// Where it goes in PostgreSQL, in the same order.
    fn targets(&self) -> Vec<String> {
        self.columns
            .iter()
            .chain(self.rowid_as.iter())
            .map(|c| quote(c))
            .collect()
    }
}

/// The tables of the SQLite schema (without SQLite's own), in creation
/// order.
pub(crate) fn sqlite_tables(lite: &Connection) -> Result<Vec<String>, StoreError> {
    let mut s = lite
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
             ESCAPE '\\' ORDER BY rowid",
        )
        .map_err(StoreError::sql("list tables"))?;
    let rows = s
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(StoreError::sql("list tables"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sql("list tables"))
}

/// The tables of the PostgreSQL schema (without `smsgate_schema`).
pub(crate) fn pg_tables(pg: &dyn Db) -> Result<Vec<String>, StoreError> {
    pg.query(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            AND table_name <> 'smsgate_schema'
          ORDER BY table_name",
        args![],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("list tables"))
}

fn sqlite_columns(lite: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut s = lite
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(StoreError::sql("list columns"))?;
    let rows = s
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(StoreError::sql("list columns"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sql("list columns"))
}

fn pg_columns(pg: &dyn Db, table: &str) -> Result<BTreeSet<String>, StoreError> {
    let cols: Vec<String> = pg
        .query(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = ?1",
            args![table],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("list columns"))?;
    Ok(cols.into_iter().collect())
}

/// The tables to copy, parents first; refuses schemas that differ.
fn plan(lite: &Connection, pg: &dyn Db) -> Result<Vec<Table>, MigrateError> {
    let names = sqlite_tables(lite)?;
    let theirs: BTreeSet<String> = pg_tables(pg)?.into_iter().collect();
    let ours: BTreeSet<String> = names.iter().cloned().collect();
    if ours != theirs {
        return Err(MigrateError::Refused(format!(
            "the two schemas differ: only in SQLite {:?}, only in PostgreSQL {:?}",
            ours.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(&ours).collect::<Vec<_>>()
        )));
    }
    let mut tables = BTreeMap::new();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let columns = sqlite_columns(lite, name)?;
        let theirs = pg_columns(pg, name)?;
        let ours: BTreeSet<String> = columns.iter().cloned().collect();
        let only_pg: Vec<&String> = theirs.difference(&ours).collect();
        // SQLite's implicit rowid, where PostgreSQL names it: one identity
        // column PostgreSQL has and a rowid table of SQLite does not.
        let rowid_as = match only_pg.as_slice() {
            [one] if is_identity(pg, name, one)? && has_rowid(lite, name) => Some((*one).clone()),
            _ => None,
        };
        if !ours.is_subset(&theirs) || (!only_pg.is_empty() && rowid_as.is_none()) {
            return Err(MigrateError::Refused(format!(
                "table {name} differs: columns only in SQLite {:?}, only in PostgreSQL {:?}",
                ours.difference(&theirs).collect::<Vec<_>>(),
                only_pg
            )));
        }
        let mut s = lite
            .prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")
            .map_err(StoreError::sql("list foreign keys"))?;
        let refs = s
            .query_map([name], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("list foreign keys"))?
            .collect::<Result<BTreeSet<String>, _>>()
            .map_err(StoreError::sql("list foreign keys"))?;
        parents.insert(
            name.clone(),
            refs.into_iter().filter(|p| p != name).collect(),
        );
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                rowid_as,
            },
        );
    }
    // Parents first, else creation order.
    let mut ordered: Vec<Table> = Vec::with_capacity(names.len());
    let mut done: BTreeSet<String> = BTreeSet::new();
    while done.len() < names.len() {
        let next = names.iter().find(|n| {
            !done.contains(*n)
                && parents
                    .get(*n)
                    .is_none_or(|ps| ps.iter().all(|p| done.contains(p)))
        });
        let Some(next) = next else {
            return Err(MigrateError::Refused(
                "the SQLite schema's foreign keys form a cycle".into(),
            ));
        };
        done.insert(next.clone());
        if let Some(t) = tables.remove(next) {
            ordered.push(t);
        }
    }
    Ok(ordered)
}

fn is_identity(pg: &dyn Db, table: &str, column: &str) -> Result<bool, StoreError> {
    pg.query_one(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2
            AND is_identity = 'YES')",
        args![table, column],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("look at a column"))
}

/// Whether a SQLite table has a rowid (not `WITHOUT ROWID`).
fn has_rowid(lite: &Connection, table: &str) -> bool {
    lite.prepare(&format!("SELECT rowid FROM {} LIMIT 0", quote(table)))
        .is_ok()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn copy_in_transaction(
    lite: &Connection,
    pg: &dyn Db,
    tables: &[Table],
) -> Result<Vec<(String, u64)>, MigrateError> {
    let list = tables
        .iter()
        .map(|t| quote(&t.name))
        .collect::<Vec<_>>()
        .join(", ");
    // Nobody else reads or writes while the copy runs (a host started too
    // early waits); the schema version cannot change under it either.
    pg.batch(&format!(
        "LOCK TABLE smsgate_schema, {list} IN ACCESS EXCLUSIVE MODE"
    ))
    .map_err(StoreError::sql("lock the tables"))?;
    for t in tables {
        let any: bool = pg
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&t.name)),
                args![],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("look for rows"))?;
        if any {
            return Err(MigrateError::Refused(format!(
                "the PostgreSQL database is not empty (table {} has rows): migrate into an \
                 empty database",
                t.name
            )));
        }
    }
    pg.batch(&tables.iter().fold(String::new(), |mut s, t| {
        s.push_str(&format!(
            "ALTER TABLE {} DISABLE TRIGGER USER;",
            quote(&t.name)
        ));
        s
    }))
    .map_err(StoreError::sql("disable the summary triggers"))?;
    let mut counts = Vec::with_capacity(tables.len());
    for t in tables {
        counts.push((t.name.clone(), copy_table(lite, pg, t)?));
    }
    pg.batch(&tables.iter().fold(String::new(), |mut s, t| {
        s.push_str(&format!(
            "ALTER TABLE {} ENABLE TRIGGER USER;",
            quote(&t.name)
        ));
        s
    }))
    .map_err(StoreError::sql("enable the summary triggers"))?;
    set_sequences(lite, pg)?;
    Ok(counts)
}

/// Copies one table's rows; returns how many.
fn copy_table(lite: &Connection, pg: &dyn Db, t: &Table) -> Result<u64, MigrateError> {
    let cols = t.targets().join(", ");
    let n = t.targets().len();
    let per = CHUNK_ROWS.min(60_000 / n.max(1)).max(1);
    let insert = |rows: usize| -> String {
        let mut sql = format!("INSERT INTO {} ({cols}) VALUES ", quote(&t.name));
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..n {
                if c > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("?{}", r * n + c + 1));
            }
            sql.push(')');
        }
        sql
    };
    let full = insert(per);
    let mut chunk: Vec<Owned> = Vec::with_capacity(per * n);
    let mut copied = 0u64;
    let flush = |chunk: &mut Vec<Owned>, sql: &str| -> Result<(), MigrateError> {
        let values: Vec<Value<'_>> = chunk.iter().map(Owned::value).collect();
        pg.execute(sql, &values)
            .map_err(StoreError::sql("copy rows"))?;
        chunk.clear();
        Ok(())
    };
    let mut s = lite
        .prepare(&format!(
            "SELECT {} FROM {}",
            t.sources().join(", "),
            quote(&t.name)
        ))
        .map_err(StoreError::sql("read rows"))?;
    let mut rows = s.query([]).map_err(StoreError::sql("read rows"))?;
    while let Some(row) = rows.next().map_err(StoreError::sql("read rows"))? {
        for c in 0..n {
            let v = row.get_ref(c).map_err(StoreError::sql("read a value"))?;
            chunk.push(Owned::of(match v {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                rusqlite::types::ValueRef::Text(b) => {
                    Value::Text(std::str::from_utf8(b).map_err(|e| StoreError::Corrupt {
                        field: "text",
                        value: format!("{}: {e}", t.name),
                    })?)
                }
                rusqlite::types::ValueRef::Blob(b) => Value::Blob(b),
            }));
        }
        copied += 1;
        if chunk.len() == per * n {
            flush(&mut chunk, &full)?;
        }
    }
    if !chunk.is_empty() {
        let rest = insert(chunk.len() / n);
        flush(&mut chunk, &rest)?;
    }
    Ok(copied)
}

/// Sets every identity sequence past the largest id copied (and past
/// SQLite's AUTOINCREMENT counter of the table, where it keeps one).
fn set_sequences(lite: &Connection, pg: &dyn Db) -> Result<(), MigrateError> {
    let identities: Vec<(String, String)> = pg
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND is_identity = 'YES'
              ORDER BY table_name",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("list identity columns"))?;
    let has_sequence_table: bool = lite
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence')",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("look for sqlite_sequence"))?;
    for (table, column) in identities {
        let largest: i64 = pg
            .query_one(
                &format!(
                    "SELECT COALESCE(MAX({}), 0) FROM {}",
                    quote(&column),
                    quote(&table)
                ),
                args![],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("read the largest id"))?;
        let counter: i64 = if has_sequence_table {
            lite.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                [&table],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("read sqlite_sequence"))?
        } else {
            0
        };
        let next = largest.max(counter);
        if next > 0 {
            pg.query_one(
                "SELECT setval(pg_get_serial_sequence(?1, ?2), CAST(?3 AS BIGINT))",
                args![quote(&table).as_str(), column.as_str(), next],
                |r| r.get::<i64>(0),
            )
            .map_err(StoreError::sql("set a sequence"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::fixture::{msg, t};
    use crate::store::{
        pgtest, ConcatKey, DeliveryResult, Disposition, EventData, IdempotencyKey, ModemEvent,
        ModemSeen, NewCampaign, NewWebhook, PartPdu, ReceivedPdu, ReportIn, Store, WebhookDelivery,
    };

    #[test]
    fn both_schemas_have_the_same_tables_and_columns() {
        let Some(pg) = pgtest::database() else { return };
        schema_pg::migrate_pg(&pg).expect("migrate postgres");
        let mut lite = Connection::open_in_memory().expect("sqlite");
        schema::migrate(&mut lite).expect("migrate sqlite");
        let mut ours = sqlite_tables(&lite).expect("sqlite tables");
        ours.sort();
        assert_eq!(ours, pg_tables(&pg).expect("pg tables"));
        // And the copy's own check, columns included, passes.
        let tables = plan(&lite, &pg).expect("the same schema");
        assert_eq!(tables.len(), ours.len());
        // Parents before children.
        let at = |n: &str| tables.iter().position(|t| t.name == n).expect(n);
        assert!(at("campaign") < at("outgoing"));
        assert!(at("outgoing") < at("outgoing_part"));
        assert!(at("inbox") < at("received_pdu"));
    }

    fn received(pdu: &[u8], seq: u8, text: &str) -> ReceivedPdu {
        ReceivedPdu {
            modem: "m1".into(),
            sim: "sim1".into(),
            pdu: pdu.to_vec(),
            from: "+4915112345678".into(),
            text: text.into(),
            binary: false,
            sent_at: None,
            concat: Some(ConcatKey {
                reference: 7,
                total: 2,
                seq,
                ref16: false,
            }),
            class0: false,
            replace_type: None,
            pid: 0,
            dcs: 0,
        }
    }

    fn report(mr: u8) -> ReportIn {
        ReportIn {
            modem: "m1".into(),
            sim: "sim1".into(),
            mr,
            recipient: "491701234567".into(),
            sc_time: None,
            discharge: None,
            status: 0,
            is_final: true,
            success: true,
            pdu: vec![6, mr, 0, 0xAA],
        }
    }

    /// A single host's store with rows in every table, made by the store's
    /// own operations; a table no operation fills on SQLite (the cluster's)
    /// gets a generic row.
    async fn filled(path: &Path) {
        let s = Store::open(path).expect("open");
        // Messages in every state.
        let delivered = s.enqueue(msg("+491701234567", 1), t(0)).await.expect("q");
        s.assign(
            delivered.id,
            "m1",
            Some("sim1"),
            vec![PartPdu::hex(1, "0011AA", 7)],
        )
        .await
        .expect("assign");
        s.part_sending(delivered.id, 1, "m1", t(1))
            .await
            .expect("sending");
        s.part_sent(delivered.id, 1, 42, t(2)).await.expect("sent");
        s.record_report(report(42), t(3)).await.expect("report");
        s.record_report(report(99), t(3))
            .await
            .expect("unmatched report");
        let sent = s.enqueue(msg("+491701234568", 2), t(4)).await.expect("q");
        s.assign(
            sent.id,
            "m1",
            Some("sim1"),
            vec![PartPdu::hex(1, "0011BB", 7), PartPdu::hex(2, "0011CC", 7)],
        )
        .await
        .expect("assign");
        s.part_sending(sent.id, 1, "m1", t(5))
            .await
            .expect("sending");
        s.part_sent(sent.id, 1, 43, t(6)).await.expect("sent");
        let failed = s.enqueue(msg("+491701234569", 1), t(7)).await.expect("q");
        s.assign(
            failed.id,
            "m1",
            Some("sim1"),
            vec![PartPdu::hex(1, "0011DD", 7)],
        )
        .await
        .expect("assign");
        s.part_failed(failed.id, 1, "CMS ERROR 500", Disposition::Permanent, t(8))
            .await
            .expect("failed");
        let cancelled = s.enqueue(msg("+491701234570", 1), t(9)).await.expect("q");
        s.cancel(cancelled.id, t(10)).await.expect("cancel");
        s.enqueue(msg("+491701234571", 1), t(11))
            .await
            .expect("queued");
        s.next_concat_ref("sim1", "+491701234567")
            .await
            .expect("ref");
        // Received: a complete two-part message and a stray part.
        s.record_received(received(b"\x01a", 1, "hel"), t(12))
            .await
            .expect("rx");
        s.record_received(received(b"\x01b", 2, "lo"), t(13))
            .await
            .expect("rx");
        let mut stray = received(b"\x01c", 1, "alone");
        stray.concat = Some(ConcatKey {
            reference: 8,
            total: 3,
            seq: 1,
            ref16: true,
        });
        s.record_received(stray, t(14)).await.expect("rx");
        s.upsert_modem(
            ModemSeen {
                name: "m1".into(),
                imei: Some("356938035643809".into()),
                imsi: Some("sim1".into()),
                iccid: Some("8949".into()),
                manufacturer: Some("Sim".into()),
                model: Some("X".into()),
            },
            t(15),
        )
        .await
        .expect("modem");
        // The event log, cursors, webhooks.
        s.append_event(
            EventData::ModemUp(ModemEvent {
                modem: "m1".into(),
                state: "ready".into(),
                ..ModemEvent::default()
            }),
            t(16),
        )
        .await
        .expect("event");
        s.set_cursor("hook:sent", 2, t(16)).await.expect("cursor");
        s.webhook_create(
            NewWebhook {
                id: "w1".into(),
                url: "http://127.0.0.1:9/hook".into(),
                events: vec!["sent".into()],
                secret: Some("s3cret-s3cret-s3cret".into()),
                fallback_secret: "fallback-fallback".into(),
                flavour: "smsgate".into(),
            },
            t(17),
        )
        .await
        .expect("webhook");
        s.webhook_record(WebhookDelivery {
            webhook: "w1".into(),
            event_id: 1,
            attempt: 1,
            result: DeliveryResult::Failed,
            status: Some(500),
            error: Some("HTTP 500".into()),
            duration_ms: 12,
            at: t(18),
            next_at: Some(t(48)),
        })
        .await
        .expect("delivery");
        s.set_webhook_setting("compat.signing_key", Some("k".into()), t(18))
            .await
            .expect("setting");
        // Tokens, idempotency keys, opt-out, campaigns, verification.
        s.token_insert("app".into(), "ab".repeat(32), vec!["send".into()], t(19))
            .await
            .expect("token");
        s.enqueue_batch(
            vec![msg("+491701234572", 1)],
            Some(IdempotencyKey {
                key: "api:app:1".into(),
                fingerprint: "f".into(),
                fresh_after: None,
            }),
            t(20),
        )
        .await
        .expect("batch");
        s.optout_add("+491701234599", "sms", Some("STOP"), t(21))
            .await
            .expect("optout");
        s.campaign_create(
            NewCampaign {
                name: "spring".into(),
                text: "hello".into(),
                priority: crate::store::Priority::Low,
                report: false,
                window: None,
                rate_per_min: None,
            },
            vec![msg("+491701234573", 1), msg("+491701234574", 1)],
            t(22),
        )
        .await
        .expect("campaign");
        s.verify_create(
            crate::store::NewCode {
                number: "+491701234575".into(),
                hash: [7; 32],
                expires_at: t(600),
                max_per_hour: 5,
                message: msg("+491701234575", 1),
                sealed_text: "code 123456".into(),
            },
            t(23),
        )
        .await
        .expect("verification code");
        s.close().await.expect("close");
        // What no operation fills on SQLite: a generic row.
        let c = Connection::open(path).expect("reopen");
        for table in sqlite_tables(&c).expect("tables") {
            let empty: bool = c
                .query_row(
                    &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", quote(&table)),
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            if empty {
                eprintln!("no store operation fills {table} on SQLite: a generic row");
                generic_row(&c, &table);
            }
        }
    }

    /// One row of plausible values by declared type (NULL where allowed
    /// and the column references another table).
    fn generic_row(c: &Connection, table: &str) {
        let mut s = c
            .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info(?1) ORDER BY cid")
            .expect("columns");
        let cols: Vec<(String, String, bool)> = s
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("columns")
            .collect::<Result<_, _>>()
            .expect("columns");
        let names: Vec<String> = cols.iter().map(|c| quote(&c.0)).collect();
        // A column that references another table takes a key it holds.
        let mut s = c
            .prepare("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1)")
            .expect("foreign keys");
        let refs: Vec<(String, String, String)> = s
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("foreign keys")
            .collect::<Result<_, _>>()
            .expect("foreign keys");
        let values: Vec<String> = cols
            .iter()
            .map(|(name, ty, _)| match refs.iter().find(|r| &r.0 == name) {
                Some((_, parent, key)) => {
                    format!("(SELECT {} FROM {} LIMIT 1)", quote(key), quote(parent))
                }
                None => generic_value(table, ty),
            })
            .collect();
        c.execute_batch(&format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(table),
            names.join(", "),
            values.join(", ")
        ))
        .unwrap_or_else(|e| panic!("a generic row for {table}: {e}"));
    }

    fn generic_value(table: &str, ty: &str) -> String {
        match ty.to_ascii_uppercase().as_str() {
            t if t.contains("INT") => "1".to_string(),
            t if t.contains("BLOB") => "x'00'".to_string(),
            t if t.contains("REAL") => "1.5".to_string(),
            _ => format!("'{table}'"),
        }
    }

    /// Every row of `table`, sorted (the engines order text differently).
    fn rows(db: &dyn Db, table: &str, columns: &[String]) -> Vec<Vec<Owned>> {
        let cols = columns.join(", ");
        let mut out = db
            .query(
                &format!("SELECT {cols} FROM {}", quote(table)),
                args![],
                |r| {
                    (0..columns.len())
                        .map(|i| r.value(i).map(Owned::of))
                        .collect::<Result<Vec<_>, _>>()
                },
            )
            .expect("rows");
        out.sort_by_key(|r| format!("{r:?}"));
        out
    }

    #[test]
    fn every_row_of_every_table_arrives_and_the_ids_carry_on() {
        let Some(url) = pgtest::url() else { return };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smsgate.db");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(filled(&path));
        let lite = open_sqlite(&path).expect("read-only");
        let tables = sqlite_tables(&lite).expect("tables");
        for table in &tables {
            let n: i64 = lite
                .query_row(&format!("SELECT COUNT(*) FROM {}", quote(table)), [], |r| {
                    r.get(0)
                })
                .expect("count");
            assert!(n > 0, "the fixture leaves {table} empty");
        }

        let done = migrate(&path, &url).expect("migrate");
        assert_eq!(done.version, schema::MIGRATIONS.len());
        assert_eq!(done.tables.len(), tables.len());
        let pg = PgConn::connect(&url).expect("connect");
        let planned = plan(&lite, &pg).expect("plan");
        for table in &tables {
            let plan = planned.iter().find(|t| &t.name == table).expect("planned");
            let ours = rows(&lite, table, &plan.sources());
            let theirs = rows(&pg, table, &plan.targets());
            assert_eq!(ours, theirs, "table {table}");
            let copied = done.tables.iter().find(|t| &t.0 == table).expect("counted");
            assert_eq!(copied.1, ours.len() as u64, "{table}");
        }

        // A second run is refused: the target is no longer empty.
        match migrate(&path, &url) {
            Err(MigrateError::Refused(m)) => assert!(m.contains("not empty"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }

        // The cluster carries on: new ids follow the copied ones.
        let last_event: i64 = lite
            .query_row("SELECT MAX(id) FROM event", [], |r| r.get(0))
            .expect("last event");
        drop(pg);
        rt.block_on(async {
            let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
                .await
                .expect("join")
                .expect("open postgres");
            assert_eq!(store.last_event_id(), last_event);
            let id = store
                .append_event(
                    EventData::ModemUp(ModemEvent {
                        modem: "m2".into(),
                        state: "ready".into(),
                        ..ModemEvent::default()
                    }),
                    t(30),
                )
                .await
                .expect("append");
            assert_eq!(id, last_event + 1);
            assert_eq!(store.cursor("hook:sent", t(30)).await.expect("cursor"), 2);
            assert_eq!(store.webhooks().await.expect("webhooks").len(), 1);
            store.close().await.expect("close");
        });
    }

    #[test]
    fn the_verification_key_beside_the_sqlite_file_goes_into_the_database() {
        let Some(url) = pgtest::url() else { return };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smsgate.db");
        {
            let mut c = Connection::open(&path).expect("sqlite");
            schema::migrate(&mut c).expect("migrate");
        }
        // A file that is not a key refuses the copy before anything is written.
        let file = dir.path().join("verify.key");
        std::fs::write(&file, b"short").expect("spoil");
        match migrate(&path, &url) {
            Err(MigrateError::Refused(m)) => {
                assert!(m.contains("is not a verification key"), "{m}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let key = [7u8; 32];
        std::fs::write(&file, key).expect("key");
        let done = migrate(&path, &url).expect("migrate");
        assert!(done.verify_key);
        // Every host of the cluster uses it, not a key of its own.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
                .await
                .expect("join")
                .expect("open postgres");
            assert_eq!(store.verify_key([9; 32]).await.expect("key"), key);
            store.close().await.expect("close");
        });
    }

    #[test]
    fn a_target_at_another_version_or_with_rows_is_refused_and_left_alone() {
        let Some(url) = pgtest::url() else { return };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smsgate.db");
        {
            let mut c = Connection::open(&path).expect("sqlite");
            schema::migrate(&mut c).expect("migrate");
        }
        let pg = PgConn::connect(&url).expect("connect");
        schema_pg::migrate_pg_to(&pg, 1).expect("version 1");
        match migrate(&path, &url) {
            Err(MigrateError::Refused(m)) => assert!(m.contains("schema version 1"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Brought up to date with one row: refused, and the row stays alone.
        schema_pg::migrate_pg(&pg).expect("migrate");
        pg.execute(
            "INSERT INTO optout (number, source, created_at) VALUES ('+1', 'x', 0)",
            args![],
        )
        .expect("a row");
        match migrate(&path, &url) {
            Err(MigrateError::Refused(m)) => assert!(m.contains("table optout has rows"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let n: i64 = (&pg as &dyn Db)
            .query_one("SELECT COUNT(*) FROM optout", args![], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
        // An older SQLite file is refused too.
        let old = dir.path().join("old.db");
        {
            let mut c = Connection::open(&old).expect("sqlite");
            schema::migrate_to(&mut c, 3).expect("version 3");
        }
        match migrate(&old, &url) {
            Err(MigrateError::Refused(m)) => assert!(m.contains("version 3"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_copy_that_fails_half_way_leaves_nothing() {
        let Some(url) = pgtest::url() else { return };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smsgate.db");
        {
            let mut c = Connection::open(&path).expect("sqlite");
            schema::migrate(&mut c).expect("migrate");
            // A good row in an early table, then one PostgreSQL refuses (SQLite
            // keeps text in an INTEGER column) in the last.
            c.execute_batch(
                "INSERT INTO optout (number, source, created_at) VALUES ('+1', 'x', 0);
                 INSERT INTO consumer_lease (name, node, expires_at, taken_at)
                 VALUES ('hook:sent', 'a', 'soon', 0);",
            )
            .expect("rows");
        }
        match migrate(&path, &url) {
            Err(MigrateError::Store(_)) => {}
            other => panic!("expected a store error, got {other:?}"),
        }
        let pg = PgConn::connect(&url).expect("connect");
        let n: i64 = (&pg as &dyn Db)
            .query_one("SELECT COUNT(*) FROM optout", args![], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 0, "nothing half-copied");
    }

    /// A figure, not a check: how fast a store of 20,000 messages (each
    /// queued, sent and reported: messages, parts, reports, events and the
    /// summary) is copied. `cargo test --lib store::migrate::tests::speed
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run by hand"]
    fn speed() {
        let Some(url) = pgtest::url() else { return };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smsgate.db");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let s = Store::open(&path).expect("open");
            for chunk in 0..40 {
                let msgs = (0..500)
                    .map(|i| msg(&format!("+4917{:08}", chunk * 500 + i), 1))
                    .collect();
                s.enqueue_batch(msgs, None, t(chunk)).await.expect("batch");
            }
            s.close().await.expect("close");
        });
        let lite = open_sqlite(&path).expect("read-only");
        let total: i64 = sqlite_tables(&lite)
            .expect("tables")
            .iter()
            .map(|t| {
                lite.query_row(&format!("SELECT COUNT(*) FROM {}", quote(t)), [], |r| {
                    r.get::<_, i64>(0)
                })
                .expect("count")
            })
            .sum();
        let started = std::time::Instant::now();
        let done = migrate(&path, &url).expect("migrate");
        let took = started.elapsed();
        assert_eq!(done.rows() as i64, total);
        eprintln!(
            "migrate: {} rows in {:.2} s ({:.0} rows/s)",
            done.rows(),
            took.as_secs_f64(),
            done.rows() as f64 / took.as_secs_f64()
        );
    }
}
