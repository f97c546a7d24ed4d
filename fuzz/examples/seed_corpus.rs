//! Writes the seed corpus of every fuzz target under `fuzz/corpus/<target>/`: real cookies
//! sealed with the targets' key, real callback queries, the level-mapping vectors of
//! `tests/data/acr/`, the sample and test catalogs and directories, valid ticket codes and
//! signed tickets. Deterministic: running it again rewrites the same files.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use wardgate::assurance::{Assurance, Level, SourceKind};
use wardgate::fallback::{TICKET_JWS_TYPE, Ticket, TicketCode};
use wardgate::oidc::PendingLogin;
use wardgate::session::{
    LoginFlow, ReturnPath, SESSION_PURPOSE, Session, SessionConfig, seal_login_flow,
};
use wardgate_fuzz::{
    Deterministic, ISSUER, LOGIN_FLOW_COOKIE, NONCE, SESSION_COOKIE, complete_id_token_claims,
    key_ring, now, sign_id_token, signing_key,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = root.parent().ok_or("fuzz/ has a parent")?.to_path_buf();
    let corpus = root.join("corpus");
    cookies(&corpus.join("cookie_unseal"))?;
    callbacks(&corpus.join("callback_query"))?;
    id_tokens(&repo, &corpus.join("id_token_claims"))?;
    toml_files(
        &[repo.join("samples/catalog.toml")],
        &repo.join("tests/data/catalog"),
        &corpus.join("catalog_toml"),
    )?;
    toml_files(
        &[repo.join("samples/wards.toml")],
        &repo.join("tests/data/wards"),
        &corpus.join("directory_toml"),
    )?;
    tickets(&corpus.join("ticket_code"))?;
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn with_selector(selector: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(rest);
    out
}

fn cookies(dir: &Path) -> Result<()> {
    let ring = key_ring();
    let random = Deterministic::new(1);
    let now = now();
    let assurance = Assurance::new(
        Some(Level::Two),
        ISSUER,
        SourceKind::IdTokenAcr,
        Some(now - chrono::Duration::minutes(2)),
    )
    .with_acr(Some("LoA2".into()));
    // The session holds the pseudonymous subject, as the gateway seals it.
    let session = Session::new("5f2c0d1a9e7b43c8a6d1f0e2b3c4d5e6", assurance, now, &random)?;
    let sealed = SessionConfig::default().seal(ring, &random, SESSION_COOKIE, &session)?;
    write(dir, "session_cookie", &with_selector(0, sealed.as_bytes()))?;
    write(
        dir,
        "session_json",
        &with_selector(1, &serde_json::to_vec(&session)?),
    )?;

    let pending: PendingLogin = serde_json::from_value(json!({
        "i": ISSUER,
        "s": "q8Xz3vT1yYb6Hc0wLk2mNe",
        "n": NONCE,
        "v": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "l": 2,
        "m": 1800,
        "t": now - chrono::Duration::seconds(30),
    }))?;
    let flow = LoginFlow::new(
        pending,
        ReturnPath::parse("/procedures/1.001193?lang=vi").ok_or("a return path")?,
    );
    let sealed = seal_login_flow(ring, &random, LOGIN_FLOW_COOKIE, now, &flow)?;
    write(
        dir,
        "login_flow_cookie",
        &with_selector(0, sealed.as_bytes()),
    )?;
    write(
        dir,
        "login_flow_json",
        &with_selector(3, &serde_json::to_vec(&flow)?),
    )?;
    // A cookie cut short, as a proxy truncating headers leaves it.
    write(
        dir,
        "truncated_cookie",
        &with_selector(2, &sealed.as_bytes()[..sealed.len() / 2]),
    )?;
    // The same session as gateways before the binary layout sealed it (JSON, version 1): such
    // cookies still open until they expire.
    let config = SessionConfig::default();
    let sealed = ring.seal(
        &random,
        SESSION_PURPOSE,
        SESSION_COOKIE,
        config.expires_at(&session),
        &session,
    )?;
    write(
        dir,
        "session_cookie_v1_json",
        &with_selector(0, sealed.as_bytes()),
    )?;
    Ok(())
}

fn callbacks(dir: &Path) -> Result<()> {
    let iss = "https%3A%2F%2Fsso.example.vn";
    let queries = [
        (
            "code",
            format!("code=SplxlOBeZQQYbYS6WxSbIA&state=q8Xz3vT1yYb6Hc0wLk2mNe&iss={iss}"),
        ),
        // VNeID-style base64 code with an unescaped '+', which must stay a '+'.
        (
            "code_plus",
            "code=a1B+c2D/e3F+g4H=&state=q8Xz3vT1yYb6Hc0wLk2mNe&session_state=7a1c".to_owned(),
        ),
        (
            "error",
            format!(
                "error=access_denied&error_description=Ng%C6%B0%E1%BB%9Di%20d%C3%B9ng%20h%E1%BB%A7y&state=q8Xz3vT1yYb6Hc0wLk2mNe&iss={iss}"
            ),
        ),
        ("duplicate_state", "code=c&state=one&state=two".to_owned()),
        ("bad_escape", "code=%G1&state=s".to_owned()),
        ("empty_pairs", "&&code=&=x&state".to_owned()),
    ];
    for (name, query) in queries {
        write(dir, name, query.as_bytes())?;
    }
    Ok(())
}

fn id_tokens(repo: &Path, dir: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo.join("tests/data/acr"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.sort();
    for file in files {
        if file.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("a file name")?
            .to_owned();
        let vectors: Value = serde_json::from_slice(&fs::read(&file)?)?;
        let cases = vectors["cases"].as_array().ok_or("cases")?;
        for (i, case) in cases.iter().enumerate() {
            let mut document = Map::new();
            document.insert("level_source".into(), vectors["level_source"].clone());
            for part in ["id_token", "userinfo"] {
                if let Some(claims) = case.get(part) {
                    document.insert(part.into(), claims.clone());
                }
            }
            write(
                dir,
                &format!("{stem}_{i:02}"),
                &serde_json::to_vec(&Value::Object(document))?,
            )?;
        }
    }
    // One raw token, signed and valid at the targets' time.
    let mut claims = Map::new();
    claims.insert("acr".into(), Value::from("LoA2"));
    let token = sign_id_token(&complete_id_token_claims(&claims)).ok_or("a token")?;
    write(dir, "raw_token", token.as_bytes())?;
    Ok(())
}

fn toml_files(extra: &[PathBuf], dir: &Path, out: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = extra.to_vec();
    for entry in fs::read_dir(dir)? {
        files.push(entry?.path());
    }
    files.sort();
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).ok_or("a name")?;
        let name = if file.starts_with(dir) {
            name.to_owned()
        } else {
            format!("sample_{name}")
        };
        write(out, &name, &fs::read(&file)?)?;
    }
    Ok(())
}

fn tickets(dir: &Path) -> Result<()> {
    let random = Deterministic::new(7);
    for (i, prefix) in ["TS", "BT", "Q1"].iter().enumerate() {
        let code = TicketCode::generate(prefix, &random)?;
        let printed = code.to_string();
        write(
            dir,
            &format!("code_{i}"),
            &with_selector(0, printed.as_bytes()),
        )?;
        // Typed with the tolerated variations: lower case, spaces, O for 0.
        let typed = printed.to_lowercase().replace('-', " ").replace('0', "o");
        write(
            dir,
            &format!("code_{i}_typed"),
            &with_selector(1, typed.as_bytes()),
        )?;
    }
    let ticket: Ticket = serde_json::from_value(json!({
        "code": TicketCode::generate("TS", &random)?,
        "procedure": "1.001193",
        "ward": "30316",
        "reception_point": "trung-tam",
        "reason": "level_below_required",
        "issued_at": now() - chrono::Duration::hours(1),
        "expires_at": now() + chrono::Duration::days(14),
    }))?;
    let payload = serde_json::to_vec(&ticket)?;
    let jws = signing_key().sign(TICKET_JWS_TYPE, &payload)?;
    write(dir, "signed_ticket", &with_selector(128, jws.as_bytes()))?;
    write(dir, "ticket_payload", &with_selector(192, &payload))?;
    Ok(())
}
