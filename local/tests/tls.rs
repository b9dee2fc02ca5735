//! TLS to PostgreSQL (`DATABASE_URL`'s `sslmode`, `sslrootcert` and
//! `PGSSLROOTCERT`) against a real server: a private cluster started here
//! with `ssl=on`, a certificate for `localhost` signed by a CA made here,
//! and a `pg_hba.conf` that accepts TLS connections only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use avatar_adapters::db::{Database, DbError};
use avatar_http::Chain;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The newest `/usr/lib/postgresql/*/bin` (the machine's PostgreSQL).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries in /usr/lib/postgresql (make test installs them)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// `/proc/self` belongs to the process's effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (the
/// server refuses to run as root).
fn pg(tool: &str, args: &[&str]) {
    let program = pg_bin().join(tool);
    let status = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    } else {
        Command::new(&program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    }
    .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(status.success(), "{tool} {args:?}: {status}");
}

/// A cluster that only accepts TLS, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
    ca_pem: PathBuf,
    other_ca_pem: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        pg(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
}

fn start_cluster() -> Cluster {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("avatars-tls-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The server's certificate: for the name `localhost` only, signed by a
    // CA of this test (and a second CA that signed nothing).
    let (issuer, ca_pem) = ca("avatars test CA");
    let (_, other_ca_pem) = ca("another CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = params.signed_by(&server_key, &issuer).unwrap();
    let cluster = Cluster {
        ca_pem: dir.join("ca.pem"),
        other_ca_pem: dir.join("other-ca.pem"),
        dir: dir.clone(),
        port,
    };
    write(&cluster.ca_pem, &ca_pem);
    write(&cluster.other_ca_pem, &other_ca_pem);
    let data = dir.join("data");
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres", dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    pg(
        "initdb",
        &[
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
    );
    write(&data.join("server.crt"), &server_cert.pem());
    write(&data.join("server.key"), &server_key.serialize_pem());
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    // TLS only: no `host` (plain) line, so a plain connection is refused.
    write(
        &data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    );
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres", dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c ssl=on -c fsync=off",
        dir.display()
    );
    let log = dir.join("server.log");
    pg(
        "pg_ctl",
        &[
            "-D",
            data.to_str().unwrap(),
            "-w",
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
            "start",
        ],
    );
    cluster
}

/// Connects through the service's pool and runs a statement.
async fn connect(url: &str) -> Result<(), DbError> {
    let db = Database::connect(url, 1)?;
    tokio::time::timeout(Duration::from_secs(10), db.ping())
        .await
        .expect("an answer within 10 s")
}

/// The error's whole chain, as the log shows it (printed for the record).
fn cause(e: &DbError) -> String {
    let text = Chain(e).to_string();
    println!("refused: {text}");
    text
}

#[tokio::test]
async fn sslmode_against_a_server_that_requires_tls() {
    let c = start_cluster();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{}/postgres?{query}", c.port);
    let ca = c.ca_pem.display().to_string();
    let other = c.other_ca_pem.display().to_string();

    // verify-full with the CA and the certificate's name: connected.
    connect(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect("verify-full with the CA");
    // The same through PGSSLROOTCERT is covered by the URL form's parser
    // test; here the URL's own parameter is used so tests stay parallel.

    // verify-full for another name than the certificate's: refused.
    let e = connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect_err("the certificate is for localhost, not 127.0.0.1");
    assert!(
        cause(&e).to_lowercase().contains("certificate"),
        "{}",
        cause(&e)
    );

    // verify-full without the CA (the system's roots) or with another CA:
    // refused.
    for query in [
        "sslmode=verify-full".to_owned(),
        format!("sslmode=verify-full&sslrootcert={other}"),
    ] {
        let e = connect(&url("localhost", &query))
            .await
            .expect_err("an unknown issuer");
        assert!(
            cause(&e).to_lowercase().contains("certificate"),
            "{query}: {}",
            cause(&e)
        );
    }

    // verify-ca checks the chain, not the name.
    connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await
    .expect("verify-ca with the CA, any name");
    let e = connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={other}"),
    ))
    .await
    .expect_err("verify-ca with another CA");
    assert!(
        cause(&e).to_lowercase().contains("certificate"),
        "{}",
        cause(&e)
    );

    // require and prefer encrypt without checking (libpq's meaning).
    connect(&url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require");
    connect(&url("127.0.0.1", ""))
        .await
        .expect("prefer, the default");

    // disable against a server that requires TLS: a clear refusal.
    let e = connect(&url("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plain connection refused by pg_hba.conf");
    assert!(cause(&e).contains("no encryption"), "{}", cause(&e));
    assert!(
        !e.is_transient(),
        "a refusal by configuration is not an outage"
    );
}
