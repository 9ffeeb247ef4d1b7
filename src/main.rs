//! `rategate`: the all-in-one binary (both services in one process, with an in-process bus and
//! an SQLite store when `REDIS_URL` / `DATABASE_URL` are unset). Not built yet: until it is, it
//! says so and points at the services, instead of pretending to run.

fn main() {
    eprintln!(
        "rategate: the all-in-one mode is not available yet.\n\
         Run the services instead: scripts/run-local.sh (FEED=sim for offline use)."
    );
    std::process::exit(2);
}
