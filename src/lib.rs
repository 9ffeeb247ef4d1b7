//! `rategate`, the all-in-one gateway: exchange-rate-svc and user-api-svc in one process.
//!
//! Zero setup by default: without `REDIS_URL` the two halves talk over the in-process bus
//! ([`common::bus::memory`]), without `DATABASE_URL` accounts, spreads and money live in an SQLite
//! file under `RATEGATE_DATA_DIR` (default `./rategate-data`). Set either variable and the same
//! binary uses Redis or MySQL/MariaDB instead, exactly as the separate services do.
//!
//! First start on a fresh data directory:
//! - a JWT signing secret is generated and kept in `jwt-secret` (mode 0600) unless
//!   `JWT_SECRET` is set, so logins survive restarts;
//! - unless `ADMIN_EMAIL`/`ADMIN_PASSWORD` are set, an admin `admin@rategate.local` is created
//!   with a random password, which is printed once and kept in `admin-credentials` (0600).
//!
//! Every other variable means what it means for the services (`.env.example`); the feed's HTTP
//! endpoints (`/status`, `/rates`, `/metrics`) listen on `FEED_HTTP_ADDR` (default: a free
//! port on 127.0.0.1, printed at start).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use common::bus::memory::MemoryBus;
use common::bus::redis::RedisBus;
use common::bus::Bus;
use common::config::{parse_or, var};
use common::serve::Listeners;
use rand::Rng;

/// The admin created on first start when `ADMIN_EMAIL` is unset.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@rategate.local";

/// Everything the all-in-one binary decides on top of the two services' configs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub feed: exchange_rate_svc::Config,
    pub api: user_api_svc::Config,
    /// `REDIS_URL` or `REDIS_CLUSTER_NODES` was set: use Redis rather than the in-process bus.
    pub use_redis: bool,
    /// `ADMIN_EMAIL`/`ADMIN_PASSWORD` were set.
    pub admin_from_env: bool,
}

/// The data directory (`RATEGATE_DATA_DIR`, default `./rategate-data`).
fn data_dir_from_env() -> PathBuf {
    PathBuf::from(var("RATEGATE_DATA_DIR").unwrap_or("rategate-data".into()))
}

/// The SQLite store in a data directory.
fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("rategate.db").display())
}

/// The store the binary runs on: `DATABASE_URL`, or the SQLite file in the data directory
/// (which is created, private, if missing). `rategate create-admin` uses it, so an admin added
/// from the command line lands where the running gateway looks.
pub fn store_url_from_env() -> anyhow::Result<String> {
    if let Some(url) = var("DATABASE_URL") {
        return Ok(url);
    }
    let data_dir = data_dir_from_env();
    create_dir(&data_dir)?;
    Ok(sqlite_url(&data_dir))
}

impl Settings {
    /// Reads the environment; creates the data directory and the secret when needed.
    pub fn from_env() -> anyhow::Result<Settings> {
        let data_dir = data_dir_from_env();
        let use_redis = var("REDIS_URL").is_some() || var("REDIS_CLUSTER_NODES").is_some();
        let mut feed = exchange_rate_svc::Config::from_env()?;
        feed.http_addr = parse_or("FEED_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 0)))?;
        // One process, one metrics recorder: a METRICS_ADDR listener is the API half's; the
        // feed half keeps its /metrics on FEED_HTTP_ADDR (the same numbers).
        feed.metrics_addr = None;
        // Validate every setting before anything is written to disk; the placeholder secret
        // is replaced below by the kept one.
        let mut defaults = user_api_svc::Config::local(&"unset".repeat(8));
        defaults.database_url = sqlite_url(&data_dir);
        // One person on their own machine: the bootstrapped admin is asked to enrol in
        // two-factor sign-in at first sign-in, not forced to (ADMIN_REQUIRE_2FA=true forces).
        defaults.admin_require_2fa = false;
        let mut api = user_api_svc::Config::from_env_over(defaults)?;
        if var("JWT_SECRET").is_none() {
            api.jwt_secret = persistent_secret(&data_dir)?;
        }
        let admin_from_env = api.admin_email.is_some();
        Ok(Settings {
            data_dir,
            feed,
            api,
            use_redis,
            admin_from_env,
        })
    }
}

/// Creates the data directory, private to its owner: it holds password hashes and secrets.
fn create_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn random_alphanumeric(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// The JWT secret kept in the data directory (generated on first start).
fn persistent_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= user_api_svc::config::MIN_SECRET_LEN => Ok(s.trim().to_string()),
        Ok(_) => anyhow::bail!(
            "{} is shorter than {} bytes; delete it to get a new one",
            path.display(),
            user_api_svc::config::MIN_SECRET_LEN
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_dir(data_dir)?;
            let secret = random_alphanumeric(64);
            write_private(&path, &secret)?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// How the admin account came about, for the start-up message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminNote {
    /// From `ADMIN_EMAIL`/`ADMIN_PASSWORD`.
    FromEnv { email: String },
    /// Created now with a random password (shown once, also kept in `file`).
    Created {
        email: String,
        password: String,
        file: PathBuf,
    },
    /// Created on an earlier start.
    Exists { email: String, file: PathBuf },
}

/// Both services, running in this process.
pub struct AllInOne {
    pub feed: exchange_rate_svc::Application,
    pub api: user_api_svc::Application,
    pub admin: AdminNote,
    /// The in-process bus, or Redis when `REDIS_URL` is set; both halves share it.
    pub bus: Arc<dyn Bus>,
    pub database_url: String,
}

impl AllInOne {
    /// Binds the feed's listeners, opens the store, bootstraps the admin, starts
    /// user-api-svc, then the feed (so the first tick already has a consumer). The feed's port
    /// is bound first so that the API never answers in a process about to exit because the
    /// feed could not listen.
    pub async fn start(settings: Settings) -> anyhow::Result<AllInOne> {
        let Settings {
            data_dir,
            feed,
            api,
            use_redis,
            admin_from_env,
        } = settings;
        let feed_listeners = Listeners::bind(feed.http_addr, feed.metrics_addr).await?;
        let bus: Arc<dyn Bus> = if use_redis {
            Arc::new(RedisBus::connect(
                &feed.redis_target()?,
                &feed.redis_prefix,
                feed.redis_command_timeout,
            )?)
        } else {
            Arc::new(MemoryBus::default())
        };
        if api.database_url.starts_with("sqlite:") {
            create_dir(&data_dir)?;
        }
        let store = user_api_svc::store::open(&api.database_url, api.db_max_connections)
            .await
            .context("cannot open the database (DATABASE_URL)")?;
        let admin = if admin_from_env {
            AdminNote::FromEnv {
                email: api.admin_email.clone().unwrap_or_default(),
            }
        } else {
            bootstrap_admin(store.as_ref(), &data_dir).await?
        };
        let database_url = api.database_url.clone();
        let api = user_api_svc::Application::build_with(api, store, bus.clone()).await?;
        let feed =
            exchange_rate_svc::Application::build_on(feed, bus.clone(), feed_listeners).await?;
        Ok(AllInOne {
            feed,
            api,
            admin,
            bus,
            database_url,
        })
    }

    /// Where people open the gateway.
    pub fn addr(&self) -> SocketAddr {
        self.api.addr()
    }

    /// What to print once everything listens: where to go and how to log in.
    pub fn banner(&self) -> String {
        let page = format!("http://{}/", self.addr());
        let bus = match self.bus.as_redis() {
            Some(redis) if redis.keys().is_clustered() => "Redis Cluster".to_string(),
            Some(_) => "Redis".to_string(),
            None => "in-process (set REDIS_URL to use Redis)".to_string(),
        };
        let store = if self.database_url.starts_with("sqlite:") {
            format!("{} (set DATABASE_URL to use MySQL)", self.database_url)
        } else {
            "MySQL/MariaDB (DATABASE_URL)".to_string()
        };
        let admin = match &self.admin {
            AdminNote::FromEnv { email } => format!("{email} (password from ADMIN_PASSWORD)"),
            AdminNote::Created {
                email,
                password,
                file,
            } => format!(
                "{email} / {password}\n             created now; also saved in {} (readable by you only)",
                file.display()
            ),
            AdminNote::Exists { email, file } => format!(
                "{email} (password shown on first start, saved in {})\n             \
                 another admin: rategate create-admin --email EMAIL",
                file.display()
            ),
        };
        format!(
            "\nrategate is running\n  open       {page}\n  api docs   {page}docs\n  admin      {admin}\n  feed       {} (status: http://{}/status)\n  bus        {bus}\n  store      {store}\n  stop       Ctrl-C\n",
            self.feed.feed().source(),
            self.feed.addr(),
        )
    }

    /// Waits for Ctrl-C/SIGTERM (or [`AllInOne::stop`]), then stops the feed first (closing
    /// upstream), then the API (finishing in-flight requests).
    pub async fn run_until_stopped(self) {
        let (feed_stop, api_stop) = (self.feed.shutdown_handle(), self.api.shutdown_handle());
        common::shutdown::trigger_on_signal(feed_stop.clone());
        tokio::select! {
            _ = feed_stop.wait() => {}
            _ = api_stop.wait() => {}
        }
        self.stop().await;
    }

    pub async fn stop(self) {
        self.feed.stop().await;
        self.api.stop().await;
    }
}

/// Creates the default admin on first start, with a random password kept in the data
/// directory; later starts only report it.
async fn bootstrap_admin(
    store: &dyn user_api_svc::store::Store,
    data_dir: &Path,
) -> anyhow::Result<AdminNote> {
    let file = data_dir.join("admin-credentials");
    let email = DEFAULT_ADMIN_EMAIL.to_string();
    if store.credentials(&email).await?.is_some() {
        return Ok(AdminNote::Exists { email, file });
    }
    create_dir(data_dir)?;
    let password = random_alphanumeric(20);
    user_api_svc::auth::create_admin(store, &email, &password, false).await?;
    // A stale file from an earlier data directory would be wrong now: replace it.
    let _ = std::fs::remove_file(&file);
    write_private(&file, &format!("{email}\n{password}\n"))?;
    Ok(AdminNote::Created {
        email,
        password,
        file,
    })
}
