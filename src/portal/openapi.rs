//! The OpenAPI 3.1 description of the gateway's JSON API, browser routes and operations routes.
//!
//! Rules this module enforces:
//!
//! 1. The JSON API's part of the document is generated from the handlers' `#[utoipa::path]`
//!    attributes and the `ToSchema` types they answer with, so the document and the code cannot
//!    drift apart; the router tests also check every JSON answer against it.
//! 2. It describes every route of the gateway contract, with the exact status codes and bodies:
//!    `401` carries the RFC 9470 `WWW-Authenticate` challenge, `403` the in-person referral,
//!    `422` one entry per bad field, `413`/`415` the refused limit or attachment, `429` the rate
//!    limit with `Retry-After`.
//! 3. Objects do not forbid other properties, so adding data never breaks a client that
//!    validates against this document.
//!
//! # Example
//!
//! ```
//! use wardgate::portal::openapi::openapi_document;
//!
//! let document = openapi_document();
//! assert_eq!(document["openapi"], "3.1.0");
//! assert!(document["paths"]["/api/procedures/{code}/decision"]["get"].is_object());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::api;
use super::submit;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The OpenAPI 3.1 document, for `GET /api/openapi.json`.
pub fn openapi_document() -> Value {
    document().clone()
}

/// The document, built once: it depends on nothing but the code.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        complete(&mut document);
        document
    })
}

/// The JSON API and operations routes, from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wardgate ward portal",
        description = "A ward portal that lets a resident submit an administrative dossier online once the identity provider has verified their e-identity at the level the procedure requires (VNeID level 2 for most). A resident who cannot reach that level is referred to the ward's Public Administrative Service Center with the reason, the place, the opening hours, what to bring and a ticket code.\n\nThe API is used by the portal's own pages and by outside tools; the resident's session is a sealed cookie set by the browser login (`GET /login`).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    servers((url = "/")),
    tags(
        (name = "procedures", description = "The procedure catalog, decisions and submissions."),
        (name = "browser", description = "Routes a browser follows to sign in and out."),
        (name = "keys", description = "Keys that verify signed receipts and tickets."),
        (name = "operations", description = "Health, readiness and metrics."),
        (name = "backoffice", description = "The ward's back office reports what became of a dossier."),
        (name = "statistics", description = "The ward's figures for upward reporting."),
        (name = "gateway", description = "Gateway mode: the nginx auth_request check."),
    ),
    paths(
        api::procedures,
        api::decision,
        submit::submit_json,
        super::dossiers::status_json,
        super::backoffice::report_status,
        api::jwks,
        api::openapi,
        api::healthz,
        api::readyz,
        super::metrics_access::public_metrics,
        super::stats_api::stats,
        super::upstream::check::auth_check,
    ),
    components(responses(UnknownProcedure, TooManyRequests, HeadersTooLarge))
)]
struct ApiDoc;

/// What the derive cannot say: the JSON Schema dialect, the session cookie's security scheme
/// and the browser routes, whose answers are redirects and pages rather than JSON types.
fn complete(document: &mut Value) {
    document["jsonSchemaDialect"] = json!("https://spec.openapis.org/oas/3.1/dialect/base");
    document["info"]["summary"] =
        json!("Online administrative procedures gated on VNeID level 2, with in-person fallback");
    document["components"]["securitySchemes"] = json!({
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": "__Host-wardgate-session",
            "description": "The sealed session cookie set by `GET /auth/callback` (named `wardgate-session` when served over http on a loopback host)."
        },
        "stats_token": {
            "type": "http",
            "scheme": "bearer",
            "description": "The province reporting system's token (`WARDGATE_STATS_TOKEN`); staff use their sign-in instead."
        }
    });
    document["components"]["responses"]["TooManyRequestsPage"] = json!({
        "description": "Too many requests from this client address: an HTML page saying when to retry.",
        "headers": {"Retry-After": retry_after_header()},
        "content": {"text/html": {"schema": {"type": "string"}}}
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(browser_paths());
    }
}

fn retry_after_header() -> Value {
    json!({
        "description": "Whole seconds until a request from this address passes again.",
        "required": true,
        "schema": {"type": "integer", "minimum": 1}
    })
}

/// `/login`, the callback and `/logout`: a browser follows them, and they answer with
/// redirects and pages.
fn browser_paths() -> serde_json::Map<String, Value> {
    let location = json!({
        "description": "Where the browser goes next.",
        "required": true,
        "schema": {"type": "string", "format": "uri-reference"}
    });
    let page = |description: &str| {
        json!({
            "description": description,
            "content": {"text/html": {"schema": {"type": "string"}}}
        })
    };
    let too_many = json!({"$ref": "#/components/responses/TooManyRequestsPage"});
    let query = |name: &str, format: Option<&str>| {
        let mut schema = json!({"type": "string"});
        if let Some(format) = format {
            schema["format"] = json!(format);
        }
        json!({"name": name, "in": "query", "required": false, "schema": schema})
    };
    let paths = json!({
        "/login": {"get": {
            "tags": ["browser"],
            "operationId": "login",
            "summary": "Start a login at the identity provider",
            "parameters": [
                {
                    "name": "procedure",
                    "in": "query",
                    "required": false,
                    "description": "The procedure the login is for; its required level is requested and the resident returns to it.",
                    "schema": {"type": "string"}
                },
                {
                    "name": "lang",
                    "in": "query",
                    "required": false,
                    "description": "The page language: Vietnamese by default.",
                    "schema": {"type": "string", "enum": ["vi", "en"], "default": "vi"}
                }
            ],
            "security": [{}],
            "responses": {
                "303": {
                    "description": "Redirect to the identity provider's authorization endpoint; sets the short-lived login-flow cookie.",
                    "headers": {"Location": location}
                },
                "200": page("An HTML page when the login cannot start (for example the provider is unreachable), with the in-person route."),
                "429": too_many
            }
        }},
        "/auth/callback": {"get": {
            "tags": ["browser"],
            "operationId": "authCallback",
            "summary": "The redirect URI: finish the login",
            "description": "Receives the authorization response (`code`, `state`, `iss`, or `error`), verifies it and the ID token, and sets the session cookie.",
            "parameters": [
                query("code", None),
                query("state", None),
                query("iss", Some("uri")),
                query("error", None),
                query("error_description", None)
            ],
            "security": [{}],
            "responses": {
                "303": {
                    "description": "Back to the procedure the login was for.",
                    "headers": {"Location": location}
                },
                "200": page("An HTML page when the login did not succeed (cancelled, provider error), with the next step."),
                "400": page("An HTML page when the response cannot be verified (expired or replayed login)."),
                "429": too_many
            }
        }},
        "/logout": {"post": {
            "tags": ["browser"],
            "operationId": "logout",
            "summary": "End the session",
            "security": [{"session": []}],
            "requestBody": {
                "required": true,
                "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object",
                    "required": ["csrf_token"],
                    "properties": {
                        "csrf_token": {"type": "string"},
                        "lang": {"type": "string", "enum": ["vi", "en"]}
                    }
                }}}
            },
            "responses": {
                "303": {
                    "description": "The resident and staff sessions end and every resident cookie (session, draft, ticket, login flow) is cleared; back to the start page (the provider has no end-session endpoint).",
                    "headers": {"Location": location}
                },
                "200": page("When the provider has an end-session endpoint: a page that sends the browser on to it at once (`meta` refresh, and a link), with `client_id`, `post_logout_redirect_uri` and `state`; the sessions and cookies are ended as for `303`."),
                "403": {"description": "The CSRF token is neither the resident's nor the staff session's."}
            }
        }},
        "/auth/logged-out": {"get": {
            "tags": ["browser"],
            "operationId": "loggedOut",
            "summary": "Return from the provider's end-session endpoint",
            "parameters": [{
                "name": "state", "in": "query", "required": false,
                "schema": {"type": "string"}
            }],
            "responses": {
                "303": {
                    "description": "The `state` is the one sent: to the start page.",
                    "headers": {"Location": location}
                },
                "400": page("An HTML page when the `state` is missing or not the one sent: the portal's session has ended, the provider's sign-out is unconfirmed.")
            }
        }}
    });
    match paths {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The procedure code in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "describes the path parameter; the handler reads it as a String"
)]
pub(crate) struct ProcedureCodeParam {
    /// The procedure's code in the catalog.
    #[param(min_length = 1, example = "1.001193")]
    code: String,
}

/// The range, ward and format of `GET /api/stats`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query; the handler reads it as a StatsApiQuery"
)]
pub(crate) struct StatsParams {
    /// First Vietnam-local day, included (`YYYY-MM-DD`); default: 29 days before `to`.
    #[param(example = "2025-07-01")]
    from: Option<String>,
    /// Last Vietnam-local day, included (`YYYY-MM-DD`); default: today.
    #[param(example = "2025-07-18")]
    to: Option<String>,
    /// The ward's 5-digit code; default: the gateway's ward.
    #[param(example = "30316")]
    ward: Option<String>,
    /// `csv` for the same figures as CSV (as `Accept: text/csv` does).
    #[param(example = "csv")]
    format: Option<String>,
}

/// The page language.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query; the handler reads it as a ResidentQuery"
)]
pub(crate) struct LangParam {
    /// The language of names and texts: Vietnamese by default.
    #[param(inline)]
    lang: Option<LangCode>,
}

/// What a client says about the resident besides the session: never a level, only a way away
/// from online filing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query; the handler reads it as a ResidentQuery"
)]
pub(crate) struct DecisionQuery {
    /// The language of names and texts: Vietnamese by default.
    #[param(inline)]
    lang: Option<LangCode>,
    /// `1` when the resident chose to go in person.
    in_person: Option<String>,
    /// How the last login ended, as the callback's redirect says (for example
    /// `level_unreachable`, `cancelled`).
    outcome: Option<String>,
    /// The ward chosen for the in-person route.
    ward: Option<String>,
    /// The reception point chosen within the ward.
    point: Option<String>,
}

/// A page language code.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[expect(dead_code, reason = "describes the `lang` parameter's values")]
pub(crate) enum LangCode {
    Vi,
    En,
}

/// A JWK Set (RFC 7517) of Ed25519 keys.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the body of `GET /.well-known/jwks.json`"
)]
pub(crate) struct Jwks {
    keys: Vec<Jwk>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes a key of the JWK Set")]
pub(crate) struct Jwk {
    /// `OKP`.
    #[schema(examples("OKP"))]
    kty: String,
    /// `Ed25519`.
    #[schema(examples("Ed25519"))]
    crv: String,
    /// The public key, base64url.
    x: String,
    /// The RFC 7638 thumbprint.
    kid: String,
    /// `EdDSA`.
    #[schema(examples("EdDSA"))]
    alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(examples("sig"))]
    use_: String,
}

/// Whether a dependency answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes the values of the readiness answer")]
pub(crate) enum Reachability {
    Reachable,
    Unreachable,
}

/// The readiness answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`; `degraded` without the identity provider; `unavailable` without the database.
    #[schema(inline)]
    status: ReadinessStatus,
    /// Whether every identity provider answers.
    identity_provider: Reachability,
    /// The first identity provider's circuit breaker, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    identity_provider_circuit: Option<CircuitCode>,
    /// With several identity providers: each one's state, by provider id.
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_providers: Option<BTreeMap<String, Reachability>>,
    /// Whether the database answers.
    database: Reachability,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes a value of the readiness answer")]
enum ReadinessStatus {
    Ready,
    Degraded,
    Unavailable,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes a value of the readiness answer")]
enum CircuitCode {
    Closed,
    Open,
    HalfOpen,
}

/// A JSON refusal as a reusable response.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    )
}

/// `404` for a code no procedure has.
pub(crate) struct UnknownProcedure;

impl<'s> utoipa::ToResponse<'s> for UnknownProcedure {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "UnknownProcedure",
            error_response("No procedure has this code (`unknown_procedure`).")
                .build()
                .into(),
        )
    }
}

/// `429` from the rate limiter.
pub(crate) struct TooManyRequests;

impl<'s> utoipa::ToResponse<'s> for TooManyRequests {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        let retry_after = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .description(Some(
                "Whole seconds until a request from this address passes again.",
            ))
            .build();
        (
            "TooManyRequests",
            error_response(
                "Too many requests from this client address (`rate_limited`); retry after `Retry-After` seconds.",
            )
            .header("Retry-After", retry_after)
            .build()
            .into(),
        )
    }
}

/// `431` from the header limits.
pub(crate) struct HeadersTooLarge;

impl<'s> utoipa::ToResponse<'s> for HeadersTooLarge {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        (
            "HeadersTooLarge",
            error_response(
                "More than 100 request headers or 32 KiB of them (`headers_too_large`).",
            )
            .build()
            .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(item, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn document_is_openapi_3_1_json() {
        let document = openapi_document();
        let text = serde_json::to_string(&document).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed, document);
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(document["info"]["title"].is_string());
    }

    #[test]
    fn every_contract_route_is_described() {
        let document = openapi_document();
        let contract = [
            ("/login", "get"),
            ("/auth/callback", "get"),
            ("/logout", "post"),
            ("/auth/logged-out", "get"),
            ("/api/procedures", "get"),
            ("/api/procedures/{code}/decision", "get"),
            ("/api/procedures/{code}/submissions", "post"),
            ("/.well-known/jwks.json", "get"),
            ("/api/openapi.json", "get"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
            ("/api/dossiers/{code}", "get"),
            ("/api/backoffice/status", "post"),
            ("/api/stats", "get"),
            ("/auth/check", "get"),
        ];
        for (path, method) in contract {
            let operation = &document["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} missing");
            assert!(
                operation["responses"].is_object(),
                "{method} {path} responses"
            );
        }
        let described: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(described, contract.len(), "undocumented extra operations");
        assert!(document["paths"][OPENAPI_PATH].is_object());
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = openapi_document();
        let mut ids = BTreeSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id), "duplicate operationId {id}");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = openapi_document();
        let mut targets = Vec::new();
        refs(&document, &mut targets);
        assert!(targets.len() > 20);
        for target in targets {
            let pointer = target.strip_prefix('#').expect("local reference");
            assert!(document.pointer(pointer).is_some(), "dangling {target}");
        }
    }

    #[test]
    fn submission_responses_follow_the_contract() {
        let document = openapi_document();
        let submit = &document["paths"]["/api/procedures/{code}/submissions"]["post"];
        let responses = &submit["responses"];
        for status in [
            "200", "201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "431",
            "500", "503",
        ] {
            assert!(responses[status].is_object(), "{status}");
        }
        let challenge = responses["401"]["headers"]["WWW-Authenticate"]["description"]
            .as_str()
            .unwrap();
        for part in ["insufficient_user_authentication", "acr_values", "max_age"] {
            assert!(challenge.contains(part), "{part}");
        }
        let header = submit["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(header["in"], "header");
        assert_eq!(header["required"], true);

        let schemas = &document["components"]["schemas"];
        let required = |schema: &str| -> Vec<String> {
            serde_json::from_value(schemas[schema]["required"].clone()).unwrap()
        };
        for field in ["dossier_code", "receipt"] {
            assert!(required("SubmissionResponse").contains(&field.to_owned()));
        }
        assert_eq!(required("FieldError"), ["field", "problem", "message"]);
        assert_eq!(
            schemas["TicketedReferral"]["allOf"][0]["$ref"],
            "#/components/schemas/Referral"
        );
        assert!(schemas["TicketedReferral"]["allOf"][1]["properties"]["ticket_code"].is_object());
        for property in ["point", "procedure", "level2", "other_points", "reason"] {
            assert!(
                schemas["Referral"]["properties"][property].is_object(),
                "{property}"
            );
        }
        assert_eq!(
            schemas["DecisionKind"]["enum"],
            serde_json::json!(["online", "sign_in", "step_up", "in_person"])
        );
        for field in ["code", "name", "required_level", "fields", "example"] {
            assert!(required("Procedure").contains(&field.to_owned()), "{field}");
        }
    }

    #[test]
    fn the_document_is_built_once() {
        assert!(std::ptr::eq(document(), document()));
    }
}
