//! The dashboard's tallies (migration 0017): controls per (effectiveness, status) and runs not
//! yet approved per due date, kept by triggers as delta rows in the same transaction as every
//! change. A count is the sum of a tenant's rows; [`compact`] folds them into one row per key.

use attest_types::TenantId;
use time::Date;

use crate::pool::TxInner;
use crate::{DbError, Tx};

/// Controls by effectiveness, those that do not apply left out: `(state, count)`, zero counts
/// omitted.
///
/// # Errors
/// On database failure.
pub async fn controls_by_effectiveness(
    tx: &mut Tx,
    tenant: TenantId,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT effectiveness, CAST(SUM(n) AS BIGINT) FROM control_tally \
             WHERE tenant_id = $1 AND status <> 'not_applicable' \
             GROUP BY effectiveness HAVING SUM(n) <> 0",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// How many runs are not approved and were due before `today` (overdue).
///
/// # Errors
/// On database failure.
pub async fn open_runs_due_before(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
) -> Result<i64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM open_run_tally \
             WHERE tenant_id = $1 AND due_on < $2",
        )
        .bind(tenant.as_uuid())
        .bind(today)
        .fetch_one(&mut *conn)
        .await?
    }))
}

/// Folds a tenant's delta rows into one row per key (zero sums dropped). On PostgreSQL each
/// table is folded by one statement, which sums exactly the rows it deletes: deltas other
/// transactions commit meanwhile stay as they are. On SQLite the transaction holds the write
/// lock, so the rows read are the rows removed.
///
/// # Errors
/// On database failure.
pub async fn compact(tx: &mut Tx, tenant: TenantId) -> Result<(), DbError> {
    let t = tenant.as_uuid();
    match tx.inner_mut() {
        TxInner::Pg(conn) => {
            sqlx::query(
                "WITH gone AS (DELETE FROM control_tally WHERE tenant_id = $1 \
                 RETURNING effectiveness, status, n) \
                 INSERT INTO control_tally (tenant_id, effectiveness, status, n) \
                 SELECT $1, effectiveness, status, SUM(n) FROM gone \
                 GROUP BY effectiveness, status HAVING SUM(n) <> 0",
            )
            .bind(t)
            .execute(&mut **conn)
            .await?;
            sqlx::query(
                "WITH gone AS (DELETE FROM open_run_tally WHERE tenant_id = $1 \
                 RETURNING due_on, n) \
                 INSERT INTO open_run_tally (tenant_id, due_on, n) \
                 SELECT $1, due_on, SUM(n) FROM gone GROUP BY due_on HAVING SUM(n) <> 0",
            )
            .bind(t)
            .execute(&mut **conn)
            .await?;
        }
        TxInner::Sqlite(conn) => {
            // The sums are appended after the rows they fold (higher rowids), then the rows
            // up to the last one read are removed.
            for (fold, last, remove) in [
                (
                    "INSERT INTO control_tally (tenant_id, effectiveness, status, n) \
                     SELECT tenant_id, effectiveness, status, SUM(n) FROM control_tally \
                     WHERE tenant_id = $1 AND rowid <= $2 \
                     GROUP BY effectiveness, status HAVING SUM(n) <> 0",
                    "SELECT COALESCE(MAX(rowid), 0) FROM control_tally WHERE tenant_id = $1",
                    "DELETE FROM control_tally WHERE tenant_id = $1 AND rowid <= $2",
                ),
                (
                    "INSERT INTO open_run_tally (tenant_id, due_on, n) \
                     SELECT tenant_id, due_on, SUM(n) FROM open_run_tally \
                     WHERE tenant_id = $1 AND rowid <= $2 GROUP BY due_on HAVING SUM(n) <> 0",
                    "SELECT COALESCE(MAX(rowid), 0) FROM open_run_tally WHERE tenant_id = $1",
                    "DELETE FROM open_run_tally WHERE tenant_id = $1 AND rowid <= $2",
                ),
            ] {
                let last: i64 = sqlx::query_scalar(last)
                    .bind(t)
                    .fetch_one(&mut **conn)
                    .await?;
                sqlx::query(fold)
                    .bind(t)
                    .bind(last)
                    .execute(&mut **conn)
                    .await?;
                sqlx::query(remove)
                    .bind(t)
                    .bind(last)
                    .execute(&mut **conn)
                    .await?;
            }
        }
    }
    Ok(())
}
