//! The service's durable state: SQLite by default (one file in the data
//! directory, WAL), PostgreSQL for operators who run one
//! (`--database postgres://…`). Both go through sqlx's `Any` driver and the
//! same migrations (`migrations/`, portable SQL), so every query here is
//! written once.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use super::error::ServiceError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/service/migrations");

/// A connection pool with the schema migrated.
#[derive(Clone, Debug)]
pub struct Db {
    pub(super) pool: AnyPool,
}

impl Db {
    /// Opens `url`, or the SQLite file `kiln.db` in `data_dir` when `url` is
    /// `None` (creating the directory), and migrates it.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Db, ServiceError> {
        sqlx::any::install_default_drivers();
        let sqlite_url;
        let url = match url {
            Some(url) => url,
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| ServiceError::io(data_dir, e))?;
                sqlite_url = format!("sqlite://{}?mode=rwc", data_dir.join("kiln.db").display());
                &sqlite_url
            }
        };
        let sqlite = url.starts_with("sqlite:");
        let options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 8 });
        let options = if sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Db { pool })
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
