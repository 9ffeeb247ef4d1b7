//! The whole chain, every part real except Kraken: kraken-mock (a real WebSocket) →
//! exchange-rate-svc → the bus → user-api-svc → real clients (HTTP, and npm socket.io-client
//! for Socket.IO). Each test runs twice:
//! - `deployed`: the two services with the real Redis and the real MariaDB;
//! - `all_in_one`: the `rategate` binary's library with its zero-setup defaults (in-process bus,
//!   SQLite file, the admin it bootstraps itself).

use kraken_mock::{MockConfig, MockKraken};
use serde_json::json;
use testkit::http::PASSWORD;
use testkit::{eventually, SioClient};
use tokio::io::AsyncBufReadExt;

const SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-0123456";
const ADMIN: (&str, &str) = ("e2e-admin@rategate.test", "E2e-Admin-Passphrase-42");

enum Parts {
    Deployed {
        feed: exchange_rate_svc::Application,
        api: user_api_svc::Application,
        prefix: String,
        db: String,
    },
    AllInOne {
        gateway: rategate::AllInOne,
        data_dir: std::path::PathBuf,
    },
}

struct Chain {
    mock: MockKraken,
    parts: Parts,
    /// The gateway's HTTP API (`chain.get(..)`, through `Deref`).
    api: testkit::http::Api,
    /// The admin's email and password.
    admin: (String, String),
}

#[derive(Clone, Copy)]
enum Setup {
    Deployed,
    AllInOne,
}

impl std::ops::Deref for Chain {
    type Target = testkit::http::Api;
    fn deref(&self) -> &testkit::http::Api {
        &self.api
    }
}

impl Chain {
    async fn start(setup: Setup) -> Chain {
        common::telemetry::init_for_tests();
        common::tls::install_crypto_provider();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let pairs = common::Pair::parse_list("BTC/USD,ETH/USD").unwrap();
        let mock = MockKraken::start(MockConfig {
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            ..MockConfig::default()
        })
        .await
        .unwrap();

        let mut feed_cfg = exchange_rate_svc::Config::local();
        feed_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
        feed_cfg.kraken_ws_url = mock.ws_url();
        feed_cfg.kraken_rest_url = mock.rest_url();
        feed_cfg.pairs = pairs.clone();
        // The chain tests push exact tickers; the venues' books have their own tests.
        feed_cfg.rates_from = exchange_rate_svc::config::RatesFrom::Ticker;
        let mut api_cfg = user_api_svc::Config::local(SECRET);
        api_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
        api_cfg.pairs = pairs;
        // The admin here signs in with a password alone (as the all-in-one binary's does by
        // default); two-factor sign-in has its own tests, and the create-admin one below.
        api_cfg.admin_require_2fa = false;

        let (parts, admin) = match setup {
            Setup::Deployed => {
                let prefix = format!("e2e:{id}:");
                let db = testkit::services::unique_db_name(&id);
                feed_cfg.redis_url = testkit::services::redis_url();
                feed_cfg.redis_prefix = prefix.clone();
                let feed = exchange_rate_svc::Application::build(feed_cfg)
                    .await
                    .unwrap();
                api_cfg.redis_url = testkit::services::redis_url();
                api_cfg.redis_prefix = prefix.clone();
                api_cfg.database_url = format!("{}/{db}", testkit::services::mysql_base());
                api_cfg.admin_email = Some(ADMIN.0.into());
                api_cfg.admin_password = Some(ADMIN.1.into());
                let api = user_api_svc::Application::build(api_cfg).await.unwrap();
                let admin = (ADMIN.0.to_string(), ADMIN.1.to_string());
                (
                    Parts::Deployed {
                        feed,
                        api,
                        prefix,
                        db,
                    },
                    admin,
                )
            }
            Setup::AllInOne => {
                let data_dir = std::env::temp_dir().join(format!("rategate-e2e-{id}"));
                api_cfg.database_url =
                    format!("sqlite://{}", data_dir.join("rategate.db").display());
                let gateway = rategate::AllInOne::start(rategate::Settings {
                    data_dir: data_dir.clone(),
                    feed: feed_cfg,
                    api: api_cfg,
                    use_redis: false,
                    admin_from_env: false,
                })
                .await
                .unwrap();
                // The zero-setup admin: created with a random password, shown once, kept in a
                // file only its owner can read.
                let rategate::AdminNote::Created {
                    email,
                    password,
                    file,
                } = gateway.admin.clone()
                else {
                    panic!("a fresh data directory bootstraps an admin")
                };
                assert_eq!(email, rategate::DEFAULT_ADMIN_EMAIL);
                assert!(gateway.banner().contains(&password));
                assert_eq!(
                    std::fs::read_to_string(&file).unwrap(),
                    format!("{email}\n{password}\n")
                );
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    // The credentials, the directory, and the database with its WAL files
                    // (password hashes and two-factor secrets).
                    let mut private = vec![file.clone(), data_dir.clone()];
                    for entry in std::fs::read_dir(&data_dir).unwrap() {
                        let path = entry.unwrap().path();
                        if path.to_string_lossy().contains(".db") {
                            private.push(path);
                        }
                    }
                    assert!(private.len() > 2, "the database is in the data directory");
                    for private in &private {
                        let mode = std::fs::metadata(private).unwrap().permissions().mode();
                        assert_eq!(mode & 0o077, 0, "{} open to others", private.display());
                    }
                }
                (Parts::AllInOne { gateway, data_dir }, (email, password))
            }
        };
        let base = match &parts {
            Parts::Deployed { api, .. } => format!("http://{}", api.addr()),
            Parts::AllInOne { gateway, .. } => format!("http://{}", gateway.addr()),
        };
        let chain = Chain {
            mock,
            parts,
            api: testkit::http::Api::new(base),
            admin,
        };
        eventually("the chain is live (feed online, status heard)", || async {
            chain
                .http
                .get(format!("{}/ready", chain.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        chain
    }

    async fn admin_token(&self) -> String {
        self.token(&self.admin.0, &self.admin.1).await
    }

    async fn stop(self) {
        match self.parts {
            Parts::Deployed {
                feed,
                api,
                prefix,
                db,
            } => {
                api.stop().await;
                feed.stop().await;
                let redis = testkit::services::redis().await;
                testkit::services::delete_bus_keys(&redis, &prefix).await;
                testkit::services::drop_database(&db).await;
            }
            Parts::AllInOne { gateway, data_dir } => {
                gateway.stop().await;
                let _ = std::fs::remove_dir_all(data_dir);
            }
        }
        self.mock.stop();
    }
}

async fn kraken_price_reaches_a_socket_spread_adjusted_exact_to_the_tick(setup: Setup) {
    let chain = Chain::start(setup).await;
    let admin = chain.admin_token().await;
    chain.set_bps_spread(&admin, "BTC_USD", "25").await;

    let mut socket = SioClient::connect(&chain.base, None).await.unwrap();
    // Kraken's engine sends these exact numbers.
    chain.mock.push_ticker("BTC/USD", "97000.1", "97000.2");
    let rate = socket
        .rate("BTC_USD", |r| r["original"]["sell"] == "97000.1")
        .await;
    // 97000.2 × 1.0025 = 97242.7005 → up to the 0.1 tick: 97242.8
    // 97000.1 × 0.9975 = 96757.59975 → down to the tick: 96757.5
    assert_eq!(
        rate["original"],
        json!({"buy": "97000.2", "sell": "97000.1"})
    );
    assert_eq!(
        rate["withSpread"],
        json!({"buy": "97242.8", "sell": "96757.5"})
    );
    assert_eq!(
        rate["currentSpread"],
        json!({"buy": "242.6", "sell": "242.6"})
    );
    assert_eq!(rate["stale"], false);
    assert_eq!(rate["source"], "kraken");

    // The same price over HTTP.
    let (_, one) = chain.get("/api/rates/BTC-USD", None).await;
    assert_eq!(one["withSpread"], rate["withSpread"]);

    // Kraken goes into maintenance: the client sees the rate turn stale.
    chain.mock.set_system("maintenance");
    socket.rate("BTC_USD", |r| r["stale"] == true).await;
    socket.close().await;
    chain.stop().await;
}

async fn a_trader_registers_is_funded_quotes_and_trades_at_the_quoted_price(setup: Setup) {
    let chain = Chain::start(setup).await;
    let admin = chain.admin_token().await;
    chain.set_bps_spread(&admin, "default", "10").await;
    chain.mock.push_ticker("ETH/USD", "3000.00", "3000.10");
    eventually("ETH rate", || async {
        chain.get("/api/rates/ETH_USD", None).await.1["original"]["sell"] == "3000.00"
    })
    .await;

    // Register (asking to be admin is ignored), get funded, quote, trade.
    let (code, me) = chain
        .post(
            "/api/auth/register",
            None,
            json!({"email": "journey@x.io", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!((code, me["role"].as_str()), (201, Some("user")));
    let trader = chain.token("journey@x.io", PASSWORD).await;
    chain
        .deposit(&admin, "journey@x.io", "USD", "10000.00")
        .await;
    let (code, quote) = chain.quote(&trader, "ETH/USD", "buy", "1.5").await;
    assert_eq!(code, 201, "{quote}");
    // 3000.10 × 1.001 = 3003.1001 → up to 3003.11; 1.5 × 3003.11 = 4504.665 → pays 4504.67
    assert_eq!(
        (quote["price"].as_str(), quote["total"].as_str()),
        (Some("3003.11"), Some("4504.67"))
    );

    // The market moves before the order: the quoted price still holds.
    chain.mock.push_ticker("ETH/USD", "3100.00", "3100.10");
    let quote_id = quote["id"].as_str().unwrap_or_default();
    let (code, order) = chain.order(&trader, "journey-1", quote_id).await;
    assert_eq!(code, 201, "{order}");
    assert_eq!(
        (order["price"].as_str(), order["total"].as_str()),
        (Some("3003.11"), Some("4504.67"))
    );

    let (_, balances) = chain.get("/api/balances", Some(&trader)).await;
    assert_eq!(
        balances["balances"],
        json!([{"asset": "ETH", "available": "1.50000000"}, {"asset": "USD", "available": "5495.33"}])
    );
    // Spread earned: 4504.67 − 1.5 × 3000.10 = 4.52
    let (_, revenue) = chain.get("/api/admin/revenue", Some(&admin)).await;
    assert_eq!(
        revenue["revenue"],
        json!([{"pair": "ETH/USD", "asset": "USD", "amount": "4.52", "orders": 1}])
    );
    chain.stop().await;
}

/// Each end-to-end journey, on the deployed setup and on the all-in-one binary.
macro_rules! on_both_setups {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn deployed() {
                super::$name(super::Setup::Deployed).await
            }
            #[tokio::test]
            async fn all_in_one() {
                super::$name(super::Setup::AllInOne).await
            }
        }
    )+};
}

on_both_setups!(
    kraken_price_reaches_a_socket_spread_adjusted_exact_to_the_tick,
    a_trader_registers_is_funded_quotes_and_trades_at_the_quoted_price,
);

/// `rategate create-admin` adds an admin to the store the all-in-one binary runs on (its own
/// data directory's SQLite file), so the running gateway lets the new admin in at once.
#[tokio::test]
async fn rategate_create_admin_adds_an_admin_to_the_gateways_own_store() {
    let chain = Chain::start(Setup::AllInOne).await;
    let Parts::AllInOne { data_dir, .. } = &chain.parts else {
        unreachable!()
    };
    let run = |email: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rategate"))
            .args(["create-admin", "--email", email])
            .env("RATEGATE_DATA_DIR", data_dir)
            .env("ADMIN_PASSWORD", "Second-Admin-Passphrase-7")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .output()
            .expect("the rategate binary runs")
    };
    let out = run("second-admin@rategate.test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("admin second-admin@rategate.test created")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("two-factor"));
    // An admin made by create-admin must enrol in two-factor sign-in before anything else.
    let limited = chain
        .token("second-admin@rategate.test", "Second-Admin-Passphrase-7")
        .await;
    let (code, body) = chain.get("/api/admin/users", Some(&limited)).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("two_factor_enrolment_required"))
    );
    let (code, enrolment) = chain
        .post("/api/auth/2fa/enrol", Some(&limited), json!({}))
        .await;
    assert_eq!(code, 201, "{enrolment}");
    let totp = totp_rs::TOTP::from_url(enrolment["otpauth_uri"].as_str().unwrap()).unwrap();
    let (code, confirmed) = chain
        .post(
            "/api/auth/2fa/confirm",
            Some(&limited),
            json!({"code": totp.generate_current().unwrap()}),
        )
        .await;
    assert_eq!(code, 200, "{confirmed}");
    let token = confirmed["tokens"]["access_token"].as_str().unwrap();
    let (code, users) = chain.get("/api/admin/users", Some(token)).await;
    assert_eq!(code, 200, "{users}");
    // The same email again is refused with a message, exit code 1.
    let again = run("second-admin@rategate.test");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    chain.stop().await;
}

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// Out of file descriptors, `accept` fails on every call: the listener must back off rather
/// than spin, and serve again once connections close. The real binary, with a low file limit.
#[tokio::test]
async fn accept_errors_back_off_instead_of_spinning() {
    common::tls::install_crypto_provider();
    let data = std::env::temp_dir().join(format!("rategate-fd-{}", uuid::Uuid::new_v4().simple()));
    let port = testkit::http::free_port();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 128 && exec {}",
            env!("CARGO_BIN_EXE_rategate")
        ))
        .env("RATEGATE_DATA_DIR", &data)
        .env("FEED", "sim")
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Started: the banner is printed once every listener serves.
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let page = format!("{base}/");
    let banner = first_line_within_30s(&mut stdout, |line| line.contains(&page)).await;
    assert!(banner.is_some(), "no banner from rategate");
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    // Hold more connections than the process has descriptors left.
    let mut held = Vec::new();
    for _ in 0..200 {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    // Spinning on accept burns a whole core (~2 CPU-seconds here); backing off, almost nothing.
    assert!(
        used < 0.5,
        "{used:.2} CPU-seconds in 2 s while out of descriptors"
    );
    drop(held);
    eventually("serving again once connections close", || async {
        reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    child.kill().await.unwrap();
    drain.abort();
    let _ = std::fs::remove_dir_all(&data);
}

/// The all-in-one binary on a data directory of its own (returned, for the test to remove),
/// its own store and bus, the default log level and `env`; its stderr is piped for the test.
fn rategate_with_stderr(env: &[(&str, String)]) -> (tokio::process::Child, std::path::PathBuf) {
    let data = std::env::temp_dir().join(format!("rategate-{}", uuid::Uuid::new_v4().simple()));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rategate"));
    for unset in ["RUST_LOG", "DATABASE_URL", "REDIS_URL", "FEED"] {
        command.env_remove(unset);
    }
    command
        .env("RATEGATE_DATA_DIR", &data)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    (command.spawn().unwrap(), data)
}

/// The first line of a child's output that `wanted` accepts, within 30 s; `None` if the
/// output ends or the time runs out first.
async fn first_line_within_30s<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    let found = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if wanted(&line) {
                return Some(line);
            }
        }
        None
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), found)
        .await
        .ok()
        .flatten()
}

/// One socket sending 1,000 connects to namespaces that do not exist (`40/xN,`) wrote 567 ERROR
/// lines. Against the real binary at its default log level: the flood adds no line to the log,
/// and the server still serves sockets.
#[tokio::test]
async fn a_peer_flooding_bad_packets_cannot_flood_the_log() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    common::tls::install_crypto_provider();
    let port = testkit::http::free_port();
    let (mut child, data) = rategate_with_stderr(&[
        ("FEED", "sim".into()),
        ("HTTP_ADDR", format!("127.0.0.1:{port}")),
    ]);
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let collected = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            collected.lock().unwrap().push(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    eventually("rategate listening", || async {
        reqwest::get(format!("{base}/health")).await.is_ok()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = lines.lock().unwrap().len();
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'), "{open:?}");
    for i in 0..1000 {
        if ws.send(Message::text(format!("40/x{i},"))).await.is_err() {
            break; // the server may close a socket this rude: also fine
        }
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut other = SioClient::connect(&base, None)
        .await
        .expect("still serving sockets");
    other.rate("BTC_USD", |_| true).await;
    other.close().await;
    let added: Vec<String> = lines.lock().unwrap()[before..].to_vec();
    assert!(
        added.is_empty(),
        "the flood was logged: {} lines, first {:?}",
        added.len(),
        added.first()
    );
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

/// A feed port that is taken fails the start before the API has answered once: the binary exits
/// with code 1 and names the address, and `/health` never said it was up (a supervisor that
/// reads `/health` would otherwise send traffic to a process about to exit). The venues' REST
/// is a port that accepts and never answers, which holds the feed's start for the REST timeout:
/// the API used to serve all that time before the feed tried its port.
#[tokio::test]
async fn a_taken_feed_port_fails_the_start_before_the_api_answers() {
    common::tls::install_crypto_provider();
    let feed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = feed_port.local_addr().unwrap();
    // Bound and never accepting: connections complete in the backlog and get no answer.
    let rest = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = rest.local_addr().unwrap();
    let closed = format!("127.0.0.1:{}", testkit::http::free_port());
    let port = testkit::http::free_port();
    let (mut child, data) = rategate_with_stderr(&[
        ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("FEED_HTTP_ADDR", taken.to_string()),
        ("KRAKEN_REST_URL", format!("http://{silent}")),
        ("BITSTAMP_REST_URL", format!("http://{silent}")),
        ("KRAKEN_WS_URL", format!("ws://{closed}/v2")),
        ("COINBASE_WS_URL", format!("ws://{closed}/")),
        ("BITSTAMP_WS_URL", format!("ws://{closed}/")),
    ]);
    let health = format!("http://127.0.0.1:{port}/health");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut answered = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running after 30 s"
        );
        if client.get(&health).send().await.is_ok() {
            answered += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert_eq!(answered, 0, "/health answered a process that then exited");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {taken}")),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Offline, the all-in-one binary says within its first 15 s that no venue is reachable and
/// how to run without internet, instead of showing an empty page forever. The venues are
/// closed local ports, so the test means the same with or without internet.
#[tokio::test]
async fn offline_the_binary_says_no_venue_is_reachable_and_suggests_the_simulated_feed() {
    let closed = format!("127.0.0.1:{}", testkit::http::free_port());
    let (mut child, data) = rategate_with_stderr(&[
        (
            "HTTP_ADDR",
            format!("127.0.0.1:{}", testkit::http::free_port()),
        ),
        ("KRAKEN_WS_URL", format!("ws://{closed}/v2")),
        ("KRAKEN_REST_URL", format!("http://{closed}")),
        ("COINBASE_WS_URL", format!("ws://{closed}/")),
        ("BITSTAMP_WS_URL", format!("ws://{closed}/")),
        ("BITSTAMP_REST_URL", format!("http://{closed}")),
    ]);
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let hint = |line: &str| line.starts_with("rategate: no venue is reachable after 15 s");
    let said = first_line_within_30s(&mut stderr, hint)
        .await
        .expect("the offline hint within 30 s");
    assert!(said.contains("FEED=sim"), "{said}");
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
