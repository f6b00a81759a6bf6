//! The PostgreSQL adapter against a real server (`VIGIL_TEST_PG`, see `postgres/tests.rs`):
//! binding by the prepared statement's parameter types, reading by column types, the statement
//! cache, and rollback.

use super::super::tests::TestDb;
use crate::store::db::{Db, Dialect, Value, params};
use crate::store::sql::dialect::pg;
use crate::store::{PostgresStore, Result, StoreError};

const CREATE: &str = "CREATE TABLE seam_t (k INTEGER PRIMARY KEY, small SMALLINT, int INTEGER, \
     big BIGINT, flag BOOLEAN, real DOUBLE PRECISION, txt TEXT, bin BYTEA)";
const INSERT: &str = "INSERT INTO seam_t (k, small, int, big, flag, real, txt, bin) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const SELECT: &str = "SELECT small, int, big, flag, real, txt, bin FROM seam_t WHERE k = ?1";

fn with_table(f: impl FnOnce(&PostgresStore)) {
    let Some(db) = TestDb::new() else { return };
    let s = db.open();
    s.write(|tx| tx.execute(CREATE, &[])).expect("create");
    f(&s);
}

fn insert(s: &PostgresStore, values: &[Value<'_>]) -> Result<u64> {
    s.write(|tx| tx.execute(INSERT, values))
}

#[test]
fn integers_narrow_to_the_column_type_and_bools_round_trip() {
    with_table(|s| {
        let bytes = [0u8, 159, 255];
        let n = insert(
            s,
            params![
                1i64,
                7i64,
                70_000i64,
                i64::MAX,
                true,
                3i64,
                "chữ",
                &bytes[..]
            ],
        )
        .expect("insert");
        assert_eq!(n, 1);
        // SQLite's 0/1 for a bool binds to BOOLEAN too.
        insert(s, params![2i64, -7i64, -1i64, 0i64, 0i64, 0.5, "", &[][..]]).expect("0/1");
        let r = s
            .read(|tx| {
                assert_eq!(tx.dialect(), Dialect::Postgres);
                tx.query_one(SELECT, params![1i64])
            })
            .expect("select");
        assert_eq!(r.get::<i16>("small").expect("small"), 7);
        assert_eq!(r.get::<i64>("small").expect("small as i64"), 7);
        assert_eq!(r.get::<i64>("int").expect("int"), 70_000);
        assert_eq!(r.get::<i64>("big").expect("big"), i64::MAX);
        assert!(r.get::<bool>("flag").expect("flag"));
        assert_eq!(r.get::<f64>("real").expect("real"), 3.0);
        assert_eq!(r.get::<String>("txt").expect("txt"), "chữ");
        assert_eq!(r.get::<Vec<u8>>("bin").expect("bin"), bytes);
        let r = s
            .read(|tx| tx.query_one(SELECT, params![2i64]))
            .expect("row 2");
        assert!(!r.get::<bool>("flag").expect("flag"));
        assert_eq!(r.get::<i16>("small").expect("small"), -7);
    });
}

#[test]
fn out_of_range_or_wrong_type_parameters_are_errors() {
    with_table(|s| {
        let refused = |values: &[Value<'_>]| match insert(s, values) {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        };
        let m = refused(params![
            1i64,
            40_000i64,
            0i64,
            0i64,
            true,
            0.0,
            "",
            None::<&[u8]>
        ]);
        assert!(m.contains("$2") && m.contains("40000"), "{m}");
        refused(params![
            1i64,
            0i64,
            i64::from(i32::MAX) + 1,
            0i64,
            true,
            0.0,
            "",
            None::<&[u8]>
        ]);
        refused(params![
            1i64,
            0i64,
            0i64,
            0i64,
            2i64,
            0.0,
            "",
            None::<&[u8]>
        ]);
        refused(params![1i64, 0i64, "7", 0i64, true, 0.0, "", None::<&[u8]>]);
        refused(params![
            1i64,
            0i64,
            0i64,
            0i64,
            true,
            0.0,
            5i64,
            None::<&[u8]>
        ]);
        refused(params![1i64]);
        // Nothing was stored by the refused statements.
        let n = s
            .read(|tx| tx.query_one("SELECT count(*) FROM seam_t", &[]))
            .expect("count");
        assert_eq!(n.get::<i64>(0).expect("n"), 0);
    });
}

#[test]
fn nulls_bind_to_any_column_and_read_as_none() {
    with_table(|s| {
        let none = None::<i64>;
        insert(s, params![1i64, none, none, none, none, none, none, none]).expect("nulls");
        let r = s
            .read(|tx| tx.query_one(SELECT, params![1i64]))
            .expect("row");
        assert_eq!(r.get::<Option<i16>>("small").expect("small"), None);
        assert_eq!(r.get::<Option<bool>>("flag").expect("flag"), None);
        assert_eq!(r.get::<Option<String>>("txt").expect("txt"), None);
        assert_eq!(r.get::<Option<Vec<u8>>>("bin").expect("bin"), None);
        assert!(matches!(r.get::<bool>("flag"), Err(StoreError::Corrupt(_))));
    });
}

#[test]
fn a_wrong_type_read_is_an_error_not_a_panic() {
    with_table(|s| {
        insert(
            s,
            params![1i64, 300i64, 1i64, 1i64, true, 0.0, "x", None::<&[u8]>],
        )
        .expect("row");
        let r = s
            .read(|tx| tx.query_one(SELECT, params![1i64]))
            .expect("row");
        for e in [
            r.get::<String>("small").map(drop),
            r.get::<u8>("small").map(drop),
            r.get::<i64>("txt").map(drop),
            r.get::<i64>("flag").map(drop),
        ] {
            assert!(matches!(e, Err(StoreError::Corrupt(_))), "{e:?}");
        }
        // A column type the seam does not read is a clear error too, when that column is read
        // (columns are decoded as the getters ask for them).
        let r = s
            .read(|tx| tx.query_one("SELECT 7::BIGINT AS n, now() AS t", &[]))
            .expect("a row with a column of another type");
        assert_eq!(r.get::<i64>("n").expect("n"), 7);
        let e = r.get::<String>("t");
        assert!(
            matches!(e, Err(StoreError::Db(ref m)) if m.contains("column t")),
            "{e:?}"
        );
    });
}

#[test]
fn a_failed_write_rolls_back_and_statements_are_prepared_once_per_connection() {
    with_table(|s| {
        let r: Result<()> = s.write(|tx| {
            tx.execute(
                INSERT,
                params![1i64, 1i64, 1i64, 1i64, true, 0.0, "x", None::<&[u8]>],
            )?;
            Err(StoreError::Invalid("stop".into()))
        });
        assert!(r.is_err());
        s.read(|tx| {
            assert!(tx.query_opt(SELECT, params![1i64])?.is_none());
            tx.query_opt(SELECT, params![1i64]).map(drop)
        })
        .expect("read");
        let cached = s
            .call_conn(|conn| Ok(conn.parts().1.contains_key(pg(SELECT))))
            .expect("conn");
        assert!(cached, "the statement is kept on the connection");
    });
}
