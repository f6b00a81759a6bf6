//! The seam's own rules: typed getters, parameter binding on SQLite, dialect clauses. The
//! PostgreSQL adapter's tests need a server: `store/postgres/seam/tests.rs`.

use std::borrow::Cow;
use std::sync::Arc;

use super::sqlite::SqliteTx;
use super::*;

fn row(values: Vec<Value<'static>>) -> Row<'static> {
    let names: Arc<[String]> = (0..values.len()).map(|i| format!("c{i}")).collect();
    Row::new(names, values)
}

fn corrupt<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(StoreError::Corrupt(m)) => m,
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn bool_getter_accepts_bools_and_zero_or_one_only() {
    let r = row(vec![
        Value::Bool(true),
        Value::Int(0),
        Value::Int(1),
        Value::Int(2),
        "true".into(),
    ]);
    assert!(r.get::<bool>(0).expect("bool"));
    assert!(!r.get::<bool>(1).expect("0"));
    assert!(r.get::<bool>(2).expect("1"));
    let m = corrupt(r.get::<bool>(3));
    assert!(m.contains("c3") && m.contains("bool"), "{m}");
    corrupt(r.get::<bool>(4));
}

#[test]
fn narrowed_integers_are_range_checked_not_wrapped() {
    let r = row(vec![Value::Int(300), Value::Int(-1), Value::Int(i64::MAX)]);
    assert_eq!(r.get::<i64>(0).expect("i64"), 300);
    assert_eq!(r.get::<i16>(0).expect("i16"), 300);
    let m = corrupt(r.get::<u8>(0));
    assert!(m.contains("c0") && m.contains("300"), "{m}");
    corrupt(r.get::<u64>(1));
    corrupt(r.get::<u32>(1));
    corrupt(r.get::<i32>(2));
    assert_eq!(r.get::<u64>(2).expect("u64"), i64::MAX as u64);
}

#[test]
fn a_wrong_type_read_is_an_error_naming_the_column() {
    let r = row(vec!["text".into(), Value::Real(1.5), Value::Int(3)]);
    let m = corrupt(r.get::<i64>(0));
    assert!(m.contains("c0") && m.contains("expected integer"), "{m}");
    corrupt(r.get::<String>(2));
    corrupt(r.get::<i64>(1));
    // A whole number from SQLite's REAL column arrives as an integer.
    assert_eq!(r.get::<f64>(2).expect("f64"), 3.0);
    assert_eq!(r.get::<f64>(1).expect("f64"), 1.5);
    let m = corrupt(r.get::<String>("nope"));
    assert!(m.contains("nope"), "{m}");
    corrupt(r.get::<String>(9));
}

#[test]
fn nulls_read_as_none_and_are_errors_where_a_value_is_required() {
    let r = row(vec![Value::Null, Value::Int(4)]);
    assert_eq!(r.get::<Option<i64>>(0).expect("null"), None);
    assert_eq!(r.get::<Option<String>>(0).expect("null"), None);
    assert_eq!(r.get::<Option<i64>>(1).expect("value"), Some(4));
    let m = corrupt(r.get::<i64>(0));
    assert!(m.contains("found null"), "{m}");
    corrupt(r.get::<Option<String>>(1));
}

#[test]
fn parameters_convert_from_rust_values() {
    assert_eq!(Value::from(7u8), Value::Int(7));
    assert_eq!(Value::from(u32::MAX), Value::Int(i64::from(u32::MAX)));
    assert_eq!(Value::from(true), Value::Bool(true));
    assert_eq!(Value::from(None::<i64>), Value::Null);
    assert_eq!(
        Value::from(&Some("a".to_owned())),
        Value::Text(Cow::Borrowed("a"))
    );
    assert_eq!(Value::from(&None::<String>), Value::Null);
    assert_eq!(params![1i64, "x"].len(), 2);
}

const CREATE: &str = "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b INTEGER, y BLOB)";
const INSERT: &str = "INSERT INTO t (i, r, s, b, y) VALUES (?1, ?2, ?3, ?4, ?5)";
const SELECT: &str = "SELECT i, r, s, b, y FROM t ORDER BY rowid";

#[test]
fn sqlite_round_trips_values_with_bools_as_zero_or_one() {
    let c = rusqlite::Connection::open_in_memory().expect("open");
    let mut tx = SqliteTx(&c);
    assert_eq!(tx.dialect(), Dialect::Sqlite);
    tx.execute(CREATE, &[]).expect("create");
    let bytes = [0u8, 1, 255];
    let n = tx
        .execute(INSERT, params![-5i64, 2.5, "héllo", true, &bytes[..]])
        .expect("insert");
    assert_eq!(n, 1);
    tx.execute(
        INSERT,
        params![None::<i64>, None::<f64>, None::<&str>, false, None::<&[u8]>],
    )
    .expect("insert nulls");
    let rows = tx.query(SELECT, &[]).expect("select");
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.len(), 5);
    assert_eq!(a.get::<i64>("i").expect("i"), -5);
    assert_eq!(a.get::<f64>("r").expect("r"), 2.5);
    assert_eq!(a.get::<String>("s").expect("s"), "héllo");
    assert!(a.get::<bool>("b").expect("b"));
    // Stored as 1, so it also reads as an integer.
    assert_eq!(a.get::<i64>("b").expect("b"), 1);
    assert_eq!(a.get::<Vec<u8>>("y").expect("y"), bytes);
    assert_eq!(b.get::<Option<i64>>("i").expect("i"), None);
    assert_eq!(b.get::<Option<String>>("s").expect("s"), None);
    assert!(!b.get::<bool>("b").expect("b"));
    corrupt(b.get::<i64>("i"));
}

#[test]
fn sqlite_query_opt_and_query_one() {
    let c = rusqlite::Connection::open_in_memory().expect("open");
    let mut tx = SqliteTx(&c);
    tx.execute(CREATE, &[]).expect("create");
    const ONE: &str = "SELECT i FROM t WHERE i = ?1";
    assert!(tx.query_opt(ONE, params![1i64]).expect("none").is_none());
    assert!(matches!(
        tx.query_one(ONE, params![1i64]),
        Err(StoreError::Db(_))
    ));
    for i in [1i64, 1, 2] {
        tx.execute(INSERT, params![i, 0.0, "", false, None::<&[u8]>])
            .expect("insert");
    }
    let r = tx
        .query_opt(ONE, params![1i64])
        .expect("first")
        .expect("row");
    assert_eq!(r.get::<i64>(0).expect("i"), 1);
    let n = tx.query_one("SELECT count(*) FROM t", &[]).expect("count");
    assert_eq!(n.get::<u64>(0).expect("n"), 3);
    // Non-UTF-8 text is reported, not altered.
    c.execute("INSERT INTO t (s) VALUES (CAST(x'ff' AS TEXT))", [])
        .expect("raw");
    let r = tx
        .query_one("SELECT s FROM t WHERE i IS NULL", &[])
        .expect("row");
    corrupt(r.get::<String>(0));
    tx.lock(Lock::Key(1, "k")).expect("no-op on SQLite");
}

#[test]
fn sqlite_rows_are_read_in_place_and_an_error_stops_the_read() {
    let c = rusqlite::Connection::open_in_memory().expect("open");
    let mut tx = SqliteTx(&c);
    tx.execute(CREATE, &[]).expect("create");
    for i in 1i64..=3 {
        tx.execute(
            INSERT,
            params![i, 0.5, format!("s{i}"), i == 2, None::<&[u8]>],
        )
        .expect("insert");
    }
    const ALL: &str = "SELECT i, s, b FROM t ORDER BY i";
    let got = collect(&mut tx, ALL, &[], |r| {
        Ok((
            r.get::<i64>("i")?,
            r.get::<String>("s")?,
            r.get::<bool>("b")?,
        ))
    })
    .expect("collect");
    assert_eq!(
        got,
        [
            (1, "s1".to_owned(), false),
            (2, "s2".to_owned(), true),
            (3, "s3".to_owned(), false)
        ]
    );
    let mut seen = 0;
    let e = tx.each(ALL, &[], &mut |r| {
        seen += 1;
        r.get::<u8>("s").map(drop)
    });
    corrupt(e);
    assert_eq!(seen, 1, "no row is read after an error");
}

#[test]
fn for_update_is_postgres_only_and_built_once() {
    const SQL: &str = "SELECT 1 FROM t WHERE i = ?1";
    assert!(std::ptr::eq(Dialect::Sqlite.for_update(SQL), SQL));
    let pg = Dialect::Postgres.for_update(SQL);
    assert_eq!(pg, "SELECT 1 FROM t WHERE i = ?1 FOR UPDATE");
    assert!(std::ptr::eq(pg, Dialect::Postgres.for_update(SQL)));
}
