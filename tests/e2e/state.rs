//! The state database's edge cases: a database from a newer mono, a damaged
//! one and a truncated one are refused with one clear line, before anything
//! is written, and `mono doctor` names them.

use std::os::unix::fs::PermissionsExt;

use mono_e2e::Sandbox;

/// The files in the home, for "nothing was created beside it".
fn home_files(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&sb.home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.db"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_database_from_a_newer_mono_is_refused_before_anything_is_written() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = sb.home.join("state.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1); PRAGMA user_version = 999;")
        .unwrap();
    drop(conn);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&db).unwrap();

    let line = sb.mono(["list"]).fails_with("has schema version 999, newer than this monod understands");
    assert!(line.contains(db.to_str().unwrap()) && line.contains("upgrade mono"), "{line}");
    assert!(sb.daemons().is_empty(), "a daemon kept running");
    assert!(std::fs::read(&db).unwrap() == before, "the database's bytes changed");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the database was chmodded");
    assert_eq!(home_files(&sb), ["state.db"], "a journal or WAL was created");
}

#[test]
fn a_damaged_database_gives_one_clear_line_with_the_fix() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    let db = sb.home.join("state.db");
    // Not a database at all.
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let line = sb.mono(["list"]).fails_with("is damaged");
    assert!(line.contains(&format!("state database {} is damaged", db.display())), "{line}");
    assert!(line.contains("restore state.db from a backup"), "{line}");
    assert_eq!(line.matches("state database").count(), 1, "said more than once: {line}");
    assert!(!line.contains("monod: error:"), "{line}");

    // A database whose header is sound but whose pages are not.
    std::fs::remove_file(&db).unwrap();
    sb.mono(["list"]).ok();
    sb.mono(["daemon", "stop"]).ok();
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() >= 8192, "{} bytes", bytes.len());
    bytes[4096..].fill(0xa5);
    std::fs::write(&db, &bytes).unwrap();
    let line = sb.mono(["list"]).fails_with("is damaged");
    assert_eq!(line.matches("malformed").count(), 1, "{line}");

    // doctor names it (monod cannot start), with the fix, instead of
    // "any command starts it".
    let doctor = sb.mono(["doctor"]);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(doctor.stdout.contains(&format!("{} is damaged", db.display())), "{}", doctor.stdout);
    assert!(doctor.stdout.contains("restore state.db from a backup"), "{}", doctor.stdout);
    assert!(!doctor.stdout.contains("any command starts it"), "{}", doctor.stdout);
}

#[test]
fn an_empty_database_beside_environments_is_not_started_empty() {
    let sb = Sandbox::new();
    sb.init_workspace("p/kept", "");
    sb.mono(["daemon", "stop"]).ok();
    let db = sb.home.join("state.db");
    std::fs::write(&db, b"").unwrap();

    let line = sb.mono(["list"]).fails_with("is empty (0 bytes)");
    assert!(line.contains(sb.home.join("data/p-kept").to_str().unwrap()), "{line}");
    assert!(
        line.contains("restore state.db from a backup") && line.contains("remove the empty file"),
        "{line}"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "the empty database was initialised");
    let doctor = sb.mono(["doctor"]);
    assert!(doctor.stdout.contains("is empty (0 bytes)"), "{}", doctor.stdout);

    // Removing it is the explicit fresh start; what the environment left
    // is then an orphan.
    std::fs::remove_file(&db).unwrap();
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), serde_json::json!([]));
    let gc = sb.mono(["gc", "--json"]).ok().json();
    assert!(gc["orphans"].as_array().is_some_and(|o| !o.is_empty()), "{gc}");
}

#[test]
fn an_empty_database_in_a_fresh_home_starts() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.home).unwrap();
    std::fs::write(sb.home.join("state.db"), b"").unwrap();
    assert_eq!(sb.mono(["list", "--json"]).ok().json(), serde_json::json!([]));
}
