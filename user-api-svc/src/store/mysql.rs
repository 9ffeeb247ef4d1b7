//! MySQL/MariaDB as a [`Backend`]: its connection, its codec and the deposit's credit;
//! the flows are the shared ones in `accounts.rs` and `money.rs`. Amounts are native
//! `DECIMAL(38,18)`, times `DATETIME(6)` in UTC (sqlx sets the session time zone), rows that a
//! transaction will change are read `FOR UPDATE`, and the `CHECK`s in `migrations/mysql` back
//! the rules up in the database. Migrations are embedded and applied at start.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;
use sqlx::mysql::{MySqlArguments, MySqlPool, MySqlPoolOptions, MySqlQueryResult, MySqlRow};
use sqlx::query::Query;
use sqlx::{MySql, Row as _, Transaction};

use super::backend::{self, Backend, Done, Row, SqlStore, Stmt, Value};
use super::{StoreError, StoreResult};

/// How long a node waits for another node's migrations before it gives up starting.
const MIGRATION_LOCK_WAIT_SECS: i64 = 60;

/// Applies the embedded migrations under a named lock of our own, so that nodes starting
/// together migrate one after the other. sqlx's own migration lock asks for
/// `GET_LOCK(name, -1)`, "wait forever" on MySQL, which MariaDB answers at once with NULL
/// without taking the lock: two nodes would both apply the first migration and one would fail
/// (seen in `tests/system/cluster.rs`).
async fn migrate(pool: &MySqlPool) -> anyhow::Result<()> {
    let mut migrator = sqlx::migrate!("../migrations/mysql");
    migrator.set_locking(false);
    let mut conn = pool.acquire().await?;
    let got: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('rategate-migrations:', DATABASE()), ?)")
            .bind(MIGRATION_LOCK_WAIT_SECS)
            .fetch_one(&mut *conn)
            .await?;
    anyhow::ensure!(
        got == Some(1),
        "another node held the migration lock for {MIGRATION_LOCK_WAIT_SECS} s"
    );
    let applied = migrator.run(&mut *conn).await;
    // The lock also ends with the connection; released here so the next node goes at once.
    let _: Option<i64> =
        sqlx::query_scalar("SELECT RELEASE_LOCK(CONCAT('rategate-migrations:', DATABASE()))")
            .fetch_one(&mut *conn)
            .await?;
    Ok(applied?)
}

/// The MariaDB pool.
pub struct MySqlDb {
    pool: MySqlPool,
}

/// The store on MariaDB.
pub type MySqlStore = SqlStore<MySqlDb>;

impl SqlStore<MySqlDb> {
    /// Creates the database if needed, connects and applies migrations. Several nodes may do
    /// this at once on an empty database: one creates it (the others find it there) and one at
    /// a time migrates.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<MySqlStore> {
        use sqlx::migrate::MigrateDatabase;
        if !MySql::database_exists(url).await? {
            match MySql::create_database(url).await {
                Ok(()) => tracing::info!("created the database"),
                // Another node created it in between.
                Err(_) if MySql::database_exists(url).await? => {}
                Err(e) => return Err(e.into()),
            }
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        migrate(&pool).await?;
        Ok(SqlStore::new(MySqlDb { pool }))
    }
}

impl MySqlDb {
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

/// A deadlock (1213, SQLSTATE 40001) or a lock-wait timeout (1205) is transient: the store
/// retries it. The rest as on every database ([`backend::classify`]).
fn classify(e: sqlx::Error) -> StoreError {
    backend::classify(e, |db| {
        (db.code().as_deref() == Some("40001") || db.message().contains("Lock wait timeout"))
            .then_some(StoreError::Transient as fn(_) -> _)
    })
}

/// Binds with MariaDB's native types.
fn query(stmt: Stmt) -> Query<'static, MySql, MySqlArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(stmt.sql));
    for v in stmt.args {
        q = match v {
            Value::Text(s) => q.bind(s),
            Value::OptText(s) => q.bind(s),
            Value::Bytes(b) => q.bind(b),
            Value::Dec(d) => q.bind(d),
            Value::OptDec(d) => q.bind(d),
            Value::Time(t) => q.bind(t),
            Value::Id(id) => q.bind(id),
            Value::Int(n) => q.bind(n),
        };
    }
    q
}

/// A write's outcome, or its error classified.
fn done(r: Result<MySqlQueryResult, sqlx::Error>) -> StoreResult<Done> {
    let r = r.map_err(classify)?;
    Ok(Done {
        rows_affected: r.rows_affected(),
        last_insert_id: r.last_insert_id(),
    })
}

fn get<T>(row: &MySqlRow, col: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, MySql> + sqlx::Type<MySql>,
{
    row.try_get(col).map_err(classify)
}

impl Row for MySqlRow {
    backend::plain_getters!();
    fn dec(&self, col: &str) -> StoreResult<Decimal> {
        Ok(get::<Decimal>(self, col)?.normalize())
    }
    fn opt_dec(&self, col: &str) -> StoreResult<Option<Decimal>> {
        Ok(get::<Option<Decimal>>(self, col)?.map(|d| d.normalize()))
    }
    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        get(self, col)
    }
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        get(self, col)
    }
    fn id(&self, col: &str) -> StoreResult<u64> {
        get(self, col)
    }
    fn count(&self, col: &str) -> StoreResult<u64> {
        let n: i64 = get(self, col)?;
        u64::try_from(n).map_err(|_| StoreError::Other(anyhow::anyhow!("negative {col}")))
    }
}

#[async_trait]
impl Backend for MySqlDb {
    type Row = MySqlRow;
    type Tx = Transaction<'static, MySql>;

    const LOCK: &'static str = "FOR UPDATE";
    const EXACT_SUM: bool = true;

    async fn close(&self) {
        self.pool.close().await;
    }

    fn upsert_head(_key: &str) -> String {
        "ON DUPLICATE KEY UPDATE".into()
    }
    fn inserted(column: &str) -> String {
        format!("VALUES({column})")
    }

    async fn fetch(&self, stmt: Stmt) -> StoreResult<Vec<MySqlRow>> {
        query(stmt).fetch_all(&self.pool).await.map_err(classify)
    }

    async fn execute(&self, stmt: Stmt) -> StoreResult<Done> {
        done(query(stmt).execute(&self.pool).await)
    }

    async fn begin(&self) -> StoreResult<Self::Tx> {
        self.pool.begin().await.map_err(classify)
    }

    async fn commit(tx: Self::Tx) -> StoreResult<()> {
        tx.commit().await.map_err(classify)
    }

    async fn fetch_in(tx: &mut Self::Tx, stmt: Stmt) -> StoreResult<Vec<MySqlRow>> {
        query(stmt).fetch_all(&mut **tx).await.map_err(classify)
    }

    async fn execute_in(tx: &mut Self::Tx, stmt: Stmt) -> StoreResult<Done> {
        done(query(stmt).execute(&mut **tx).await)
    }

    /// The addition happens in `DECIMAL`, under the row lock of the upsert.
    async fn credit(
        tx: &mut Self::Tx,
        user_id: u64,
        asset: &str,
        amount: Decimal,
        _now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO balances (user_id, asset, available) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE available = available + VALUES(available)",
        )
        .id(user_id)
        .text(asset)
        .dec(amount);
        Self::execute_in(tx, stmt).await?;
        Ok(())
    }
}
