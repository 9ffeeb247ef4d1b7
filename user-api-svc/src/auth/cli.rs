//! `create-admin --email EMAIL`: the command both binaries offer (`user-api-svc create-admin`
//! on `DATABASE_URL`, `rategate create-admin` on its own data directory's store). The password
//! comes from `ADMIN_PASSWORD` or, if unset, one line on standard input, so it never appears in
//! the process list or the shell history.

use std::io::BufRead;

/// What the command needs besides the store's URL.
pub struct CreateAdmin {
    pub email: String,
    pub password: String,
}

/// Parses `--email EMAIL` and reads the password; `Err` is the usage or input message.
pub fn parse(program: &str, args: &[String]) -> Result<CreateAdmin, String> {
    let email = match args {
        [flag, email] if flag == "--email" => email.clone(),
        _ => {
            return Err(format!(
            "usage: {program} create-admin --email EMAIL (password from ADMIN_PASSWORD or stdin)"
        ))
        }
    };
    let password = match common::config::var("ADMIN_PASSWORD") {
        Some(p) => p,
        None => {
            eprintln!("password for {email} (one line):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|_| "could not read a password".to_string())?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    Ok(CreateAdmin { email, password })
}

/// `PROGRAM create-admin ARGS` from start to end: parses the arguments, then creates the admin
/// in the store `database_url` names. Returns the process exit code: 0 done, 1 refused or
/// failed, 2 bad usage or configuration.
pub async fn run(
    program: &str,
    args: &[String],
    database_url: impl FnOnce() -> anyhow::Result<String>,
) -> i32 {
    let request = match parse(program, args) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    match database_url() {
        Ok(url) => create_admin(&url, &request).await,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            2
        }
    }
}

/// Opens the store at `database_url` (creating and migrating it if needed) and creates the
/// admin. Returns the process exit code: 0 done, 1 refused or failed.
pub async fn create_admin(database_url: &str, request: &CreateAdmin) -> i32 {
    let store = match crate::store::open(database_url, 2).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("create-admin: cannot open the database: {e:#}");
            return 1;
        }
    };
    // An admin made here must enrol in two-factor sign-in at first sign-in.
    match super::create_admin(store.as_ref(), &request.email, &request.password, true).await {
        Ok(()) => {
            println!(
                "admin {} created; at first sign-in it enrols in two-factor sign-in",
                request.email
            );
            0
        }
        Err(e) => {
            eprintln!("create-admin: {e:#}");
            1
        }
    }
}
