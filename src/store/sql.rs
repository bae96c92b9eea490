//! The portable SQL layer: one set of store queries for SQLite and
//! PostgreSQL. Owns the [`Db`] trait (execute, query rows, run a script),
//! borrowed parameter values ([`Value`]), typed reads of a row by index
//! ([`FromValue`]), the [`Dialect`] for the few fragments the engines spell
//! differently, and the two implementations: `rusqlite::Connection` (and so
//! its `Transaction`) and [`PgConn`] over the blocking `postgres` client. It
//! decides nothing about messages; the query files in `src/store/` do.
//!
//! SQL is written once with SQLite's numbered placeholders (`?1`, `?2`);
//! for PostgreSQL each statement is translated to `$1`, `$2` and prepared
//! once per connection, then served from a cache keyed by the original
//! text, as `prepare_cached` does for SQLite. Parameters borrow their
//! texts and blobs, so a call allocates no SQL and copies no argument on
//! SQLite's path.
//!
//! Rules for shared SQL (both engines accept it): `ON CONFLICT … DO
//! NOTHING/UPDATE`, `RETURNING id` instead of `last_insert_rowid()`,
//! `COALESCE`, `CAST(… AS BIGINT)`; no `GLOB`, `strftime`, `json_each`,
//! scalar `MAX(a, b)` or `INSERT OR …` (a [`Dialect`] fragment or two texts
//! chosen by [`Db::dialect`] instead). In PostgreSQL every integer column is
//! `BIGINT` (SQLite's i64), blobs are `BYTEA`, times stay integer
//! milliseconds. A failed statement aborts a PostgreSQL transaction up to
//! its savepoint, so shared SQL never relies on catching a constraint error
//! and carrying on: it says `ON CONFLICT` instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};

/// Which engine a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that opens a write transaction.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            // Take the write lock at once: a group-commit batch writes.
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// One parameter or one column value, borrowed where it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<i32> for Value<'_> {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `args![a, b, c]`: a parameter array, each converted with `Value::from`.
macro_rules! args {
    () => { &[] as &[$crate::store::sql::Value<'_>] };
    ($($v:expr),+ $(,)?) => { &[$($crate::store::sql::Value::from($v)),+] };
}
#[allow(unused_imports)]
pub(crate) use args;

/// What can go wrong below the store's own errors.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Pg(postgres::Error),
    /// `query_one` found no row.
    NoRow,
    /// A column's value is not of the type asked for.
    Type {
        column: usize,
        want: &'static str,
        found: String,
    },
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => e.fmt(f),
            DbError::Pg(e) => match e.as_db_error() {
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => e.fmt(f),
            },
            DbError::NoRow => f.write_str("query returned no rows"),
            DbError::Type {
                column,
                want,
                found,
            } => write!(f, "column {column}: want {want}, found {found}"),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => DbError::NoRow,
            e => DbError::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Pg(e)
    }
}

/// A row being read: values by column index (0-based).
pub(crate) trait Row {
    fn value(&self, column: usize) -> Result<Value<'_>, DbError>;
}

impl dyn Row + '_ {
    /// Column `column` as `T`.
    pub(crate) fn get<T: FromValue>(&self, column: usize) -> Result<T, DbError> {
        let v = self.value(column)?;
        T::from_value(v).ok_or_else(|| DbError::Type {
            column,
            want: T::NAME,
            found: format!("{v:?}"),
        })
    }
}

/// A Rust type a column value reads into.
pub(crate) trait FromValue: Sized {
    const NAME: &'static str;
    fn from_value(v: Value<'_>) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "integer";
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}
macro_rules! narrow_int {
    ($($t:ty),+) => {$(
        impl FromValue for $t {
            const NAME: &'static str = stringify!($t);
            fn from_value(v: Value<'_>) -> Option<Self> {
                i64::from_value(v).and_then(|i| <$t>::try_from(i).ok())
            }
        }
    )+};
}
narrow_int!(u8, u16, u32, u64, i32, usize);

impl FromValue for bool {
    const NAME: &'static str = "boolean (integer)";
    fn from_value(v: Value<'_>) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    const NAME: &'static str = "real";
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Real(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.to_owned()),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    const NAME: &'static str = "blob";
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.to_vec()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A connection (or transaction) the store's queries run on.
pub(crate) trait Db {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; how many rows it changed.
    fn execute(&self, sql: &str, args: &[Value<'_>]) -> Result<u64, DbError>;
    /// Runs one query, handing each row to `each`.
    fn query_each(
        &self,
        sql: &str,
        args: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError>;
    /// Runs a script of statements without parameters (not cached).
    fn batch(&self, sql: &str) -> Result<(), DbError>;
    /// Whether a transaction is open (SQLite ends one by itself on a full
    /// disk or an I/O error; PostgreSQL when the connection is lost).
    fn in_transaction(&self) -> bool;
    /// The SQLite connection, for queries not yet written for both engines.
    fn sqlite(&self) -> Option<&rusqlite::Connection> {
        None
    }
    /// Why the connection to the server is gone, once it is (PostgreSQL:
    /// the server stopped or the network failed); it must be made again.
    fn lost(&self) -> Option<String> {
        None
    }
}

impl dyn Db + '_ {
    /// Every row, each read by `f`.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        args: &[Value<'_>],
        mut f: impl FnMut(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.query_each(sql, args, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, if any.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Value<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, args, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row; [`DbError::NoRow`] when there is none.
    pub(crate) fn query_one<T>(
        &self,
        sql: &str,
        args: &[Value<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, args, f)?.ok_or(DbError::NoRow)
    }

    /// One of two texts of a statement, by engine.
    pub(crate) fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }
}

// --- SQLite ------------------------------------------------------------------

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Row for rusqlite::Row<'_> {
    fn value(&self, column: usize) -> Result<Value<'_>, DbError> {
        use rusqlite::types::ValueRef;
        Ok(match self.get_ref(column)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(
                std::str::from_utf8(t)
                    .map_err(|e| DbError::Sqlite(rusqlite::Error::Utf8Error(column, e)))?,
            ),
            ValueRef::Blob(b) => Value::Blob(b),
        })
    }
}

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, args: &[Value<'_>]) -> Result<u64, DbError> {
        let mut stmt = self.prepare_cached(sql)?;
        let n = stmt.execute(rusqlite::params_from_iter(args))?;
        Ok(n as u64)
    }

    fn query_each(
        &self,
        sql: &str,
        args: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let mut stmt = self.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            each(row)?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), DbError> {
        Ok(self.execute_batch(sql)?)
    }

    fn in_transaction(&self) -> bool {
        !self.is_autocommit()
    }

    fn sqlite(&self) -> Option<&rusqlite::Connection> {
        Some(self)
    }
}

// --- PostgreSQL --------------------------------------------------------------

/// A PostgreSQL connection with its cache of prepared statements. Used by
/// one thread at a time (the store thread or one reader).
pub(crate) struct PgConn {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<Box<str>, postgres::Statement>>,
    /// The error that showed the connection gone (see [`Db::lost`]).
    lost: RefCell<Option<String>>,
}

/// How long a connection attempt may take when the URL does not say
/// (`connect_timeout`): a server host that does not answer at all must not
/// hold the store thread for the kernel's TCP timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `e` means the connection is gone (rather than one statement
/// failed): the client closed, an I/O error, or the server's SQLSTATE class
/// 08 (connection exception) or 57P01..57P03 (shutting down, cannot connect
/// now).
pub(crate) fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => StdError::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

impl PgConn {
    /// Connects to `url` (`postgresql://user@host:port/db`, or key=value),
    /// with TCP keepalives (a dead server is noticed) and a connect
    /// timeout of [`CONNECT_TIMEOUT`] unless the URL sets one. Blocks: call
    /// it outside an async runtime's worker threads.
    pub(crate) fn connect(url: &str) -> Result<PgConn, DbError> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(30));
        let client = config.connect(postgres::NoTls)?;
        Ok(PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            lost: RefCell::new(None),
        })
    }

    /// Notes an error that shows the connection gone.
    fn check<T>(&self, r: Result<T, postgres::Error>) -> Result<T, DbError> {
        r.map_err(|e| {
            let e = DbError::Pg(e);
            if let DbError::Pg(pg) = &e {
                if connection_lost(pg) && self.lost.borrow().is_none() {
                    *self.lost.borrow_mut() = Some(e.to_string());
                }
            }
            e
        })
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let translated = placeholders_to_pg(sql);
        let stmt = self.check(self.client.borrow_mut().prepare(&translated))?;
        self.statements
            .borrow_mut()
            .insert(sql.into(), stmt.clone());
        Ok(stmt)
    }
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Value<'_>]) -> Result<u64, DbError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let r = self.client.borrow_mut().execute(&stmt, &params);
        self.check(r)
    }

    fn query_each(
        &self,
        sql: &str,
        args: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        // Collected first: `each` may run queries of its own.
        let rows = self.client.borrow_mut().query(&stmt, &params);
        let rows = self.check(rows)?;
        for row in &rows {
            each(row)?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), DbError> {
        let r = self.client.borrow_mut().batch_execute(sql);
        self.check(r)
    }

    fn in_transaction(&self) -> bool {
        !self.client.borrow().is_closed()
    }

    fn lost(&self) -> Option<String> {
        if let Some(e) = self.lost.borrow().as_ref() {
            return Some(e.clone());
        }
        self.client
            .borrow()
            .is_closed()
            .then(|| "the connection closed".to_string())
    }
}

impl Row for postgres::Row {
    fn value(&self, column: usize) -> Result<Value<'_>, DbError> {
        Ok(self.try_get::<_, PgValue<'_>>(column)?.0)
    }
}

/// A column of any type PostgreSQL sends, read as a [`Value`].
struct PgValue<'a>(Value<'a>);

type BoxError = Box<dyn StdError + Sync + Send>;

impl<'a> FromSql<'a> for PgValue<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::OID => Value::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw),
            _ => Value::Text(<&str>::from_sql(ty, raw)?),
        };
        Ok(PgValue(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::OID
                | Type::BOOL
                | Type::FLOAT8
                | Type::FLOAT4
                | Type::NUMERIC
                | Type::BYTEA
        ) || <&str as FromSql>::accepts(ty)
    }
}

/// A binary NUMERIC (what `SUM` of a BIGINT column gives): an integer when
/// it has no fraction and fits, a float otherwise.
fn numeric(raw: &[u8]) -> Result<Value<'static>, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        match (raw.get(i), raw.get(i + 1)) {
            (Some(a), Some(b)) => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err("short NUMERIC".into()),
        }
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = word(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut int: Option<i64> = Some(0);
    let mut real = 0f64;
    for i in 0..ndigits {
        let d = word(8 + 2 * i)?;
        let power = weight - i as i32;
        real += f64::from(d) * 10000f64.powi(power);
        int = match (int, u32::try_from(power)) {
            (Some(acc), Ok(p)) => 10000i64
                .checked_pow(p)
                .and_then(|m| i64::from(d).checked_mul(m))
                .and_then(|v| acc.checked_add(v)),
            (acc, Err(_)) if d == 0 => acc,
            _ => None,
        };
    }
    Ok(match int {
        Some(i) if dscale == 0 => Value::Int(if negative { -i } else { i }),
        _ => Value::Real(if negative { -real } else { real }),
    })
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::NUMERIC => Err("NUMERIC parameter: cast it to BIGINT in the SQL".into()),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => f.to_string().as_str().to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` (and bare `?`) placeholders to PostgreSQL's `$N`, outside quoted
/// strings, quoted identifiers and comments.
pub(crate) fn placeholders_to_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next_bare = 1u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                out.push('$');
                let mut digits = false;
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    digits = true;
                    chars.next();
                }
                if !digits {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_translated_outside_quotes() {
        let cases: &[(&str, &str)] = &[
            ("SELECT ?1, ?2", "SELECT $1, $2"),
            ("SELECT ?, ?", "SELECT $1, $2"),
            ("SELECT '?1' || ?1", "SELECT '?1' || $1"),
            (
                "SELECT \"a?\" FROM t WHERE x = ?12",
                "SELECT \"a?\" FROM t WHERE x = $12",
            ),
            ("SELECT 1 -- why?\n, ?3", "SELECT 1 -- why?\n, $3"),
            ("", ""),
        ];
        assert!(!cases.is_empty());
        for (sqlite, pg) in cases {
            assert_eq!(placeholders_to_pg(sqlite), *pg, "{sqlite}");
        }
    }

    /// The same statements and reads on one engine (called for both).
    pub(crate) fn round_trip(db: &dyn Db) {
        // Type names both engines take (SQLite gives BYTEA no affinity,
        // which keeps blobs as they are).
        db.batch(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, n BIGINT, f DOUBLE PRECISION, b BYTEA)",
        )
        .expect("create");
        let blob = vec![0u8, 1, 255];
        for i in 1..=3i64 {
            let name = format!("row {i}");
            let n = db
                .execute(
                    "INSERT INTO t (id, name, n, f, b) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO NOTHING",
                    args![i, &name, (i > 1).then_some(i * 10), 0.5f64, &blob],
                )
                .expect("insert");
            assert_eq!(n, 1);
        }
        let again = db
            .execute(
                "INSERT INTO t (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                args![1i64, "dup"],
            )
            .expect("insert again");
        assert_eq!(again, 0);
        type Five = (i64, String, Option<i64>, f64, Vec<u8>);
        let rows: Vec<Five> = db
            .query(
                "SELECT id, name, n, f, b FROM t WHERE id >= ?1 ORDER BY id",
                args![1i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("query");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], (1, "row 1".into(), None, 0.5, blob.clone()));
        assert_eq!(rows[2].2, Some(30));
        let sum: i64 = db
            .query_one("SELECT COALESCE(SUM(n), 0) FROM t", args![], |r| r.get(0))
            .expect("sum");
        assert_eq!(sum, 50);
        let count: i64 = db
            .query_one(
                "SELECT COUNT(*) FROM t WHERE name = ?1",
                args!["row 2"],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(count, 1);
        let none: Option<i64> = db
            .query_opt("SELECT id FROM t WHERE id = ?1", args![99i64], |r| r.get(0))
            .expect("none");
        assert_eq!(none, None);
        assert!(matches!(
            db.query_one("SELECT id FROM t WHERE id = ?1", args![99i64], |r| r
                .get::<i64>(0)),
            Err(DbError::NoRow)
        ));
        let bigger: i64 = db
            .query_one(
                db.pick(
                    "SELECT MAX(?1, ?2)",
                    "SELECT GREATEST(?1::BIGINT, ?2::BIGINT)",
                ),
                args![3i64, 7i64],
                |r| r.get(0),
            )
            .expect("greatest");
        assert_eq!(bigger, 7);
        let id: i64 = db
            .query_one(
                "INSERT INTO t (id, name) VALUES (?1, ?2) RETURNING id",
                args![42i64, "returned"],
                |r| r.get(0),
            )
            .expect("returning");
        assert_eq!(id, 42);
        let wrong = db.query_one("SELECT name FROM t WHERE id = 1", args![], |r| {
            r.get::<i64>(0)
        });
        assert!(
            matches!(wrong, Err(DbError::Type { column: 0, .. })),
            "{wrong:?}"
        );
    }

    #[test]
    fn sqlite_round_trip() {
        let c = rusqlite::Connection::open_in_memory().expect("memory");
        round_trip(&c);
    }

    #[test]
    fn postgres_round_trip() {
        let Some(db) = crate::store::pgtest::database() else {
            return;
        };
        round_trip(&db);
    }
}
