//! Passwords: argon2id with OWASP's parameters (19 MiB, 2 iterations, 1 lane), hashed and
//! verified on the blocking pool so the async runtime never stalls; and the password policy
//! (OWASP ASVS 2.1: at least 12 characters, at most 128, not common or guessable, judged by
//! zxcvbn with the user's email as context, and not built from the email).
//!
//! Every hash holds [`HASH_MEMORY_KIB`] for its duration, so requests that hash (register,
//! login) go through a [`HashGate`]: at most `concurrency` hashes at once (sized to the cores and
//! a memory budget), a bounded wait for a turn, then `503 busy` with `Retry-After`. Without it a
//! burst of sign-ups takes all memory. The hashes run on the gate's own `concurrency` worker
//! threads, each with one argon2 working memory ([`Scratch`]) allocated once and reused: a
//! fresh 19 MiB buffer per hash left the allocator with freed blocks it could not reuse (split
//! by small allocations, spread over the blocking pool's threads), and a burst kept hundreds of
//! MiB resident. The free [`hash`] and [`verify`] are for the CLI and the
//! bootstrap admin, which run one at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a password was refused or could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The policy refuses it; the message says what to change.
    #[error("{0}")]
    Weak(String),
    /// Every hashing turn is taken: try again in this many seconds.
    #[error("password hashing is busy; try again in {0} s")]
    Busy(u64),
    /// Hashing itself failed (no hashing thread, or it died).
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
}

fn failed(why: impl std::fmt::Display) -> PasswordError {
    PasswordError::Failed(anyhow::anyhow!("{why}"))
}

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;
/// Memory one argon2id hash or verification holds.
pub const HASH_MEMORY_KIB: u32 = 19_456;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. Constant, valid parameters.
    let params = Params::new(HASH_MEMORY_KIB, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy; the message says what to change.
pub fn check_policy(password: &str, email: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(PasswordError::Weak(format!(
            "use at least {MIN_LEN} characters"
        )));
    }
    if chars > MAX_LEN {
        return Err(PasswordError::Weak(format!(
            "use at most {MAX_LEN} characters"
        )));
    }
    let local = email.split('@').next().unwrap_or(email);
    if built_from_email(password, email) {
        return Err(PasswordError::Weak(
            "choose a password that is not built from your email address".into(),
        ));
    }
    let entropy = zxcvbn::zxcvbn(password, &[email, local, "rategate"]);
    if u8::from(entropy.score()) < 3 {
        let hint = entropy
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "it is too easy to guess".into());
        return Err(PasswordError::Weak(format!(
            "choose a less guessable password: {hint}"
        )));
    }
    Ok(())
}

/// True if the password is the email, its local part, or either with a little around it: the
/// first thing anyone who knows the address tries. Compared on letters and digits only, case
/// folded, so `Alice.Smith!2024` is caught for `alice.smith@example.com`.
fn built_from_email(password: &str, email: &str) -> bool {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let pw = fold(password);
    let whole = fold(email);
    let local = fold(email.split('@').next().unwrap_or(email));
    let domain_name = fold(
        email
            .split('@')
            .nth(1)
            .and_then(|d| d.split('.').next())
            .unwrap_or(""),
    );
    if pw.is_empty() {
        return false;
    }
    // The password inside the address (`alicesmith` for alice.smith@...), or the address's
    // local part (4+ characters) making up most of the password.
    let mostly = |part: &str| {
        part.chars().count() >= 4 && pw.contains(part) && {
            let rest = pw.chars().count() - part.chars().count();
            rest * 2 < pw.chars().count()
        }
    };
    whole.contains(&pw) || mostly(&local) || mostly(&format!("{local}{domain_name}"))
}

/// Argon2's working memory (one [`Block`] per KiB of `m_cost`), allocated by a hashing
/// thread's first hash and reused by every hash after it. Not at start: a node that rarely
/// hashes (most requests carry a token) should not hold 19 MiB per hashing thread for nothing.
pub struct Scratch(Vec<Block>);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(Vec::new())
    }

    /// At least `blocks` long (a stored hash with a larger `m_cost` grows it once).
    fn blocks(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0.resize(blocks, Block::default());
        }
        &mut self.0[..blocks]
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// The raw argon2 output of `password` with `argon` and `salt`, `len` bytes, in `scratch`.
fn raw_hash(
    argon: &Argon2<'_>,
    password: &str,
    salt: &[u8],
    len: usize,
    scratch: &mut Scratch,
) -> Result<Output, argon2::password_hash::Error> {
    let memory = scratch.blocks(argon.params().block_count());
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *memory)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`.
fn hash_now(password: &str, scratch: &mut Scratch) -> Result<String, PasswordError> {
    let failed = |e: argon2::password_hash::Error| failed(format!("hashing failed: {e}"));
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.as_salt().decode_b64(&mut salt_bytes).map_err(failed)?;
    let argon = hasher();
    let output = raw_hash(
        &argon,
        password,
        raw_salt,
        Params::DEFAULT_OUTPUT_LEN,
        scratch,
    )
    .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// True if `password` matches the PHC string `stored` (constant-time comparison). With `None`
/// (no such account) it verifies against a fixed dummy hash, so the time taken does not reveal
/// whether the account exists.
fn verify_now(password: &str, stored: Option<&str>, scratch: &mut Scratch) -> bool {
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let Ok(computed) = raw_hash(&argon, password, raw_salt, expected.len(), scratch) else {
        return false;
    };
    // `Output`'s equality is constant-time.
    computed == expected && real
}

/// Hashes on the blocking pool, unbounded: for the CLI and the bootstrap admin only.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_now(&password, &mut Scratch::new()))
        .await
        .map_err(failed)?
}

/// Verifies on the blocking pool, unbounded (see `verify_now` for unknown accounts).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        verify_now(&password, stored.as_deref(), &mut Scratch::new())
    })
    .await
    .map_err(failed)
}

/// Work for a hashing thread, given that thread's working memory.
type HashJob = Box<dyn FnOnce(&mut Scratch) + Send>;

/// Bounds concurrent argon2 work (see the module doc).
pub struct HashGate {
    permits: Arc<Semaphore>,
    /// To the worker threads; they end when the gate (and so this sender) is dropped.
    jobs: std::sync::mpsc::Sender<HashJob>,
    concurrency: usize,
    max_wait: Duration,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a request waiting for a turn, until dropped (also when the request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// At most `concurrency` hashes at once; a request waits at most `max_wait` for a turn, and
    /// at most 32 per permit wait at all (the rest are answered 503 at once).
    pub fn new(concurrency: usize, max_wait: Duration) -> HashGate {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<HashJob>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..concurrency {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut scratch = Scratch::new();
                    loop {
                        // The lock is held only to take the next job, never while hashing.
                        let next = common::sync::lock(&queue).recv();
                        match next {
                            Ok(job) => job(&mut scratch),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashGate {
            permits: Arc::new(Semaphore::new(concurrency)),
            jobs,
            concurrency,
            max_wait,
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency * 32,
        }
    }

    /// The default concurrency: one per core, and no more than `memory_budget_mib` allows.
    pub fn default_concurrency(memory_budget_mib: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_hash_mib = (HASH_MEMORY_KIB as usize).div_ceil(1024);
        cores.min(memory_budget_mib / per_hash_mib).max(1)
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("rategate_password_hash_busy_total").increment(1);
            return Err(PasswordError::Busy(1));
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("rategate_password_hash_busy_total").increment(1);
                Err(PasswordError::Busy(1))
            }
        }
    }

    /// Runs `work` on a hashing thread when a turn is free. The permit moves into the job, so
    /// a client that goes away mid-hash still holds its place until the hash is done.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = self.permit().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move |scratch| {
            let result = work(scratch);
            // Free the slot before answering: the caller may hash again at once.
            drop(permit);
            let _ = done.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| failed("no password hashing thread"))?;
        result
            .await
            .map_err(|_| failed("password hashing thread died"))
    }

    /// Hashes when a turn is free.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |scratch| hash_now(&password, scratch))
            .await?
    }

    /// Verifies when a turn is free (see `verify_now` for unknown accounts).
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move |scratch| verify_now(&password, stored.as_deref(), scratch))
            .await
    }
}

static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_now("not a password anyone has", &mut Scratch::new()).unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        // TC: too short, too long, common, email-derived, fine
        for (pw, ok) in [
            ("short", false),
            (&"x".repeat(129), false),
            ("password1234", false),
            ("alice@example.com1", false),
            ("Alice@Example.com!!", false),
            ("alice-example-2024", false),
            ("alice.Example#2024x", false),
            ("liceexamplec", false),
            ("qwertyuiop123", false),
            ("correct horse battery staple", true),
            ("vN3#kq9!Lz@w2Rb", true),
        ] {
            assert_eq!(check_policy(pw, "alice@example.com").is_ok(), ok, "{pw}");
        }
    }

    #[tokio::test]
    async fn the_gate_runs_at_most_its_concurrency_and_turns_away_the_overflow() {
        let gate = Arc::new(HashGate::new(1, Duration::from_millis(1)));
        // Hold the only permit: the next request waits 1 ms, then is told to come back.
        let held = gate.permit().await.unwrap();
        match gate.hash("correct horse battery staple".into()).await {
            Err(PasswordError::Busy(secs)) => assert!(secs >= 1),
            other => panic!("expected busy, got {other:?}"),
        }
        drop(held);
        let h = gate
            .hash("correct horse battery staple".into())
            .await
            .unwrap();
        assert!(gate
            .verify("correct horse battery staple".into(), Some(h))
            .await
            .unwrap());
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn default_concurrency_respects_the_memory_budget() {
        assert_eq!(HashGate::default_concurrency(19), 1);
        assert_eq!(HashGate::default_concurrency(0), 1, "always at least one");
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(HashGate::default_concurrency(1 << 20), cores);
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_phc_strings() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut scratch = Scratch::new();
        // Ours verify with the crate's verifier...
        let ours = hash_now("correct horse battery staple", &mut scratch).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(hasher()
            .verify_password(b"correct horse battery staple", &parsed)
            .is_ok());
        // ...and the crate's (every hash stored before this change) verify with ours, also
        // with other parameters than today's.
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 3, 1, None).unwrap(),
        );
        for theirs in [
            hasher().hash_password(b"pw one two three", &salt).unwrap(),
            small.hash_password(b"pw one two three", &salt).unwrap(),
        ] {
            let theirs = theirs.to_string();
            assert!(verify_now("pw one two three", Some(&theirs), &mut scratch));
            assert!(!verify_now("pw one two threE", Some(&theirs), &mut scratch));
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery staple".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery staple".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("x".into(), Some("not a hash".into())).await.unwrap());
    }
}
