//! The OpenAPI 3.1 description of the gateway's JSON API, browser routes and operations routes.
//!
//! Rules this module enforces:
//!
//! 1. The document describes every route of the gateway contract, with the exact status codes
//!    and bodies: `401` carries the RFC 9470 `WWW-Authenticate` challenge, `403` the in-person
//!    referral, `422` one entry per bad field, `413`/`415` the refused limit or attachment,
//!    `429` the rate limit with `Retry-After`.
//! 2. Schemas that other modules fill (procedures, referrals) name the properties the contract
//!    guarantees and allow more (`additionalProperties: true`), so adding data never breaks a
//!    client that validates against this document.
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

use serde_json::{Value, json};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The OpenAPI 3.1 document, for `GET /api/openapi.json`.
pub fn openapi_document() -> Value {
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "wardgate ward portal",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Online administrative procedures gated on VNeID level 2, with in-person fallback",
            "description": "A ward portal that lets a resident submit an administrative dossier online once the identity provider has verified their e-identity at the level the procedure requires (VNeID level 2 for most). A resident who cannot reach that level is referred to the ward's Public Administrative Service Center with the reason, the place, the opening hours, what to bring and a ticket code.\n\nThe API is used by the portal's own pages and by outside tools; the resident's session is a sealed cookie set by the browser login (`GET /login`).",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"}
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "procedures", "description": "The procedure catalog, decisions and submissions."},
            {"name": "browser", "description": "Routes a browser follows to sign in and out."},
            {"name": "keys", "description": "Keys that verify signed receipts."},
            {"name": "operations", "description": "Health, readiness and metrics."}
        ],
        "paths": paths(),
        "components": components(),
    })
}

/// The document's `paths`: one function per top-level member keeps `json!` inside the
/// compiler's macro recursion limit.
fn paths() -> Value {
    json!({
    "/api/procedures": {
        "get": {
            "tags": ["procedures"],
            "operationId": "listProcedures",
            "summary": "The procedures of the ward's catalog",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Every procedure, with the level it needs online and the fields of its dossier.",
                    "content": {"application/json": {"schema": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Procedure"}
                    }}}
                }
            }
        }
    },
    "/api/procedures/{code}/decision": {
        "get": {
            "tags": ["procedures"],
            "operationId": "decide",
            "summary": "What the current resident can do for a procedure",
            "description": "Never fails for lack of assurance: not being signed in, a level too low or a resident who must go in person are decisions, answered with `200`. An `in_person` answer sets the ticket cookie (`__Host-wardgate-ticket` over https, `wardgate-ticket` on a plain-http development host); sent back, it makes the next answer carry the same ticket instead of a new referral.",
            "parameters": [{"$ref": "#/components/parameters/ProcedureCode"}],
            "security": [{}, {"session": []}],
            "responses": {
                "200": {
                    "description": "The decision.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}
                },
                "404": {"$ref": "#/components/responses/UnknownProcedure"}
            }
        }
    },
    "/api/procedures/{code}/submissions": {
        "post": {
            "tags": ["procedures"],
            "operationId": "submitDossier",
            "summary": "Submit a dossier online",
            "description": "The level and the age of the authentication are checked again at submission. The dossier is stored durably before the receipt is issued. Repeating a request with the same `Idempotency-Key` returns the same `dossier_code` and receipt.",
            "parameters": [
                {"$ref": "#/components/parameters/ProcedureCode"},
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": true,
                    "description": "A unique key per dossier chosen by the client (for example a UUID); repeating it repeats the answer.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255}
                }
            ],
            "security": [{"session": []}],
            "requestBody": {
                "required": true,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmissionRequest"}}}
            },
            "responses": {
                "201": {
                    "description": "The dossier is stored; the receipt is signed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmissionResponse"}}}
                },
                "400": {
                    "description": "The `Idempotency-Key` header is missing or malformed, or the body is not JSON.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "401": {
                    "description": "Not signed in, or signed in at too low a level or too long ago: authenticate again as the challenge says (RFC 9470 step-up).",
                    "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/StepUpChallenge"}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "403": {
                    "description": "The resident must go in person; the body is the referral.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InPersonRequired"}}}
                },
                "404": {"$ref": "#/components/responses/UnknownProcedure"},
                "409": {
                    "description": "The `Idempotency-Key` was already used for another dossier (`idempotency_key_reused`, with its `dossier_code`).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "413": {
                    "description": "Too large: the body (`body_too_large`), a field (`field_too_large`), the number of fields (`too_many_fields`), an attachment (`attachment_too_large`, with `field`), all attachments (`attachments_too_large`) or their number (`too_many_attachments`). Nothing was stored.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "415": {
                    "description": "The body is not `application/json` (`unsupported_media_type`), or an attachment is not a PDF, JPEG or PNG or is not of its declared type (`attachment_type_refused`, with `field`). Nothing was stored.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "422": {
                    "description": "The dossier is invalid; each bad field is named. An attachment that is malformed, empty, not base64 or badly named is `invalid_attachment`, with `field` (an `Error`).",
                    "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/ValidationError"},
                        {"$ref": "#/components/schemas/Error"}
                    ]}}}
                },
                "429": {"$ref": "#/components/responses/TooManyRequests"},
                "431": {"$ref": "#/components/responses/HeadersTooLarge"}
            }
        }
    },
    "/login": {
        "get": {
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
                {"$ref": "#/components/parameters/Lang"}
            ],
            "security": [{}],
            "responses": {
                "303": {
                    "description": "Redirect to the identity provider's authorization endpoint; sets the short-lived login-flow cookie.",
                    "headers": {"Location": {"$ref": "#/components/headers/Location"}}
                },
                "200": {
                    "description": "An HTML page when the login cannot start (for example the provider is unreachable), with the in-person route.",
                    "content": {"text/html": {"schema": {"type": "string"}}}
                },
                "429": {"$ref": "#/components/responses/TooManyRequestsPage"}
            }
        }
    },
    "/auth/callback": {
        "get": {
            "tags": ["browser"],
            "operationId": "authCallback",
            "summary": "The redirect URI: finish the login",
            "description": "Receives the authorization response (`code`, `state`, `iss`, or `error`), verifies it and the ID token, and sets the session cookie.",
            "parameters": [
                {"name": "code", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "state", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "iss", "in": "query", "required": false, "schema": {"type": "string", "format": "uri"}},
                {"name": "error", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "error_description", "in": "query", "required": false, "schema": {"type": "string"}}
            ],
            "security": [{}],
            "responses": {
                "303": {
                    "description": "Back to the procedure the login was for.",
                    "headers": {"Location": {"$ref": "#/components/headers/Location"}}
                },
                "200": {
                    "description": "An HTML page when the login did not succeed (cancelled, provider error), with the next step.",
                    "content": {"text/html": {"schema": {"type": "string"}}}
                },
                "400": {
                    "description": "An HTML page when the response cannot be verified (expired or replayed login).",
                    "content": {"text/html": {"schema": {"type": "string"}}}
                },
                "429": {"$ref": "#/components/responses/TooManyRequestsPage"}
            }
        }
    },
    "/logout": {
        "post": {
            "tags": ["browser"],
            "operationId": "logout",
            "summary": "End the session",
            "security": [{"session": []}],
            "requestBody": {
                "required": true,
                "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object",
                    "required": ["csrf_token"],
                    "properties": {"csrf_token": {"type": "string"}}
                }}}
            },
            "responses": {
                "303": {
                    "description": "The session cookie is cleared; back to the start page.",
                    "headers": {"Location": {"$ref": "#/components/headers/Location"}}
                },
                "403": {"description": "The CSRF token is missing or wrong."}
            }
        }
    },
    "/.well-known/jwks.json": {
        "get": {
            "tags": ["keys"],
            "operationId": "jwks",
            "summary": "The public keys that verify receipts",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "A JWK Set (RFC 7517).",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Jwks"}},
                        "application/jwk-set+json": {"schema": {"$ref": "#/components/schemas/Jwks"}}
                    }
                }
            }
        }
    },
    "/api/openapi.json": {
        "get": {
            "tags": ["operations"],
            "operationId": "openapi",
            "summary": "This document",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}}
                }
            }
        }
    },
    "/healthz": {
        "get": {
            "tags": ["operations"],
            "operationId": "health",
            "summary": "Liveness: the process serves requests",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "The gateway is alive.",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    }
                }
            }
        }
    },
    "/readyz": {
        "get": {
            "tags": ["operations"],
            "operationId": "ready",
            "summary": "Readiness, including the identity provider's reachability",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Ready (`status: ready`), or degraded (`status: degraded`): the database is reachable but the identity provider is not, so residents are referred in person while signed-in residents keep submitting; the instance should stay in rotation.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}
                },
                "503": {
                    "description": "Not ready: the database is unreachable.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}
                }
            }
        }
    },
    "/metrics": {
        "get": {
            "tags": ["operations"],
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "description": "Decisions by outcome and reason, logins, submissions, referrals, HTTP requests and latency by route template. Labels never carry personal data.",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format 0.0.4.",
                    "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}
                }
            }
        }
    }
    })
}

/// The document's `components`.
fn components() -> Value {
    json!({
    "securitySchemes": {
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": "__Host-wardgate-session",
            "description": "The sealed session cookie set by `GET /auth/callback` (named `wardgate-session` when served over http on a loopback host)."
        }
    },
    "parameters": {
        "ProcedureCode": {
            "name": "code",
            "in": "path",
            "required": true,
            "description": "The procedure's code in the catalog.",
            "schema": {"type": "string", "minLength": 1}
        },
        "Lang": {
            "name": "lang",
            "in": "query",
            "required": false,
            "description": "The page language: Vietnamese by default.",
            "schema": {"type": "string", "enum": ["vi", "en"], "default": "vi"}
        }
    },
    "headers": {
        "StepUpChallenge": {
            "description": "An RFC 6750 Bearer challenge with the RFC 9470 error `insufficient_user_authentication`, the `acr_values` that would be enough (space-separated) and, when the authentication is too old, the `max_age` in seconds. Example: `Bearer error=\"insufficient_user_authentication\", error_description=\"level 2 required\", acr_values=\"LoA2\", max_age=\"900\"`.",
            "required": true,
            "schema": {
                "type": "string",
                "pattern": "^Bearer .*error=\"insufficient_user_authentication\""
            }
        },
        "Location": {
            "description": "Where the browser goes next.",
            "required": true,
            "schema": {"type": "string", "format": "uri-reference"}
        },
        "RetryAfter": {
            "description": "Whole seconds until a request from this address passes again.",
            "required": true,
            "schema": {"type": "integer", "minimum": 1}
        }
    },
    "responses": {
        "UnknownProcedure": {
            "description": "No procedure has this code.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        },
        "TooManyRequests": {
            "description": "Too many requests from this client address (`rate_limited`); retry after `Retry-After` seconds.",
            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        },
        "TooManyRequestsPage": {
            "description": "Too many requests from this client address: an HTML page saying when to retry.",
            "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            "content": {"text/html": {"schema": {"type": "string"}}}
        },
        "HeadersTooLarge": {
            "description": "More than 100 request headers or 32 KiB of them (`headers_too_large`).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
    },
    "schemas": {
        "Level": {
            "description": "An e-identity level: 1 (VNeID level 1, registered online) or 2 (level 2, enrolled in person with biometrics).",
            "type": "integer",
            "enum": [1, 2]
        },
        "Procedure": {
            "type": "object",
            "required": ["code", "name", "required_level", "fields", "example"],
            "properties": {
                "code": {"type": "string", "description": "The procedure's code.", "examples": ["1.001193"]},
                "name": {"type": "string", "description": "The procedure's name in the requested language."},
                "required_level": {"$ref": "#/components/schemas/Level"},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                "example": {"type": "object", "description": "A valid example dossier.", "additionalProperties": true}
            },
            "additionalProperties": true
        },
        "Field": {
            "type": "object",
            "required": ["name", "type", "required"],
            "properties": {
                "name": {"type": "string", "description": "The key in the dossier object."},
                "type": {"type": "string", "description": "The value's type, for example `string`, `date`, `integer`, `boolean`."},
                "required": {"type": "boolean"}
            },
            "additionalProperties": true
        },
        "Decision": {
            "type": "object",
            "required": ["decision", "level", "required_level", "reason"],
            "properties": {
                "decision": {
                    "type": "string",
                    "enum": ["online", "sign_in", "step_up", "in_person"],
                    "description": "`online`: submit now. `sign_in`: sign in first. `step_up`: sign in again at a higher level. `in_person`: go to the service centre (see `referral`)."
                },
                "level": {
                    "description": "The level of the current session, or null without one.",
                    "oneOf": [{"$ref": "#/components/schemas/Level"}, {"type": "null"}]
                },
                "required_level": {"$ref": "#/components/schemas/Level"},
                "reason": {"type": "string", "description": "A stable reason code, for example `level_too_low`."},
                "referral": {
                    "description": "Where to go in person; present when `decision` is `in_person`.",
                    "oneOf": [{"$ref": "#/components/schemas/Referral"}, {"type": "null"}]
                }
            },
            "additionalProperties": false
        },
        "Referral": {
            "type": "object",
            "description": "The in-person route: the service centre, its address and hours, what to bring and the ticket code the counter uses to resume the dossier.",
            "properties": {
                "reason": {"type": "string", "description": "The reason code."},
                "centre": {"type": ["string", "object"], "description": "The Public Administrative Service Center (Trung tâm Phục vụ hành chính công)."},
                "address": {"type": ["string", "object"]},
                "opening_hours": {"type": ["string", "array", "object"]},
                "checklist": {"type": "array", "items": {"type": ["string", "object"]}, "description": "What to bring."},
                "ticket_code": {"type": "string", "description": "A short code to give at the counter."}
            },
            "additionalProperties": true
        },
        "InPersonRequired": {
            "type": "object",
            "required": ["referral"],
            "properties": {
                "error": {"type": "string", "const": "in_person_required"},
                "reason": {"type": "string"},
                "referral": {"$ref": "#/components/schemas/Referral"}
            },
            "additionalProperties": true
        },
        "SubmissionRequest": {
            "type": "object",
            "description": "The dossier: one property per field of the procedure (see `Procedure.fields`), at most 64 of at most 8 KiB each, nested at most 8 deep; plus, optionally, `attachments`. The attachments are stored inside the dossier (with `size` and `sha256` added), so the receipt's `payload_digest` and the back office's envelope cover them.",
            "properties": {
                "attachments": {
                    "type": "array",
                    "description": "Documents attached to the dossier (by default at most 5 files of 4 MiB, 8 MiB in all).",
                    "items": {"$ref": "#/components/schemas/Attachment"}
                }
            },
            "additionalProperties": true
        },
        "Attachment": {
            "type": "object",
            "required": ["name", "media_type", "content_base64"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The file name, without `/`, `\\` or control characters."},
                "media_type": {"type": "string", "enum": ["application/pdf", "image/jpeg", "image/png"], "description": "Must be the type the content's first bytes show."},
                "content_base64": {"type": "string", "contentEncoding": "base64", "description": "The file, standard base64 with padding."}
            },
            "additionalProperties": false
        },
        "SubmissionResponse": {
            "type": "object",
            "required": ["dossier_code", "receipt"],
            "properties": {
                "dossier_code": {"type": "string", "description": "The dossier's code at the ward."},
                "receipt": {
                    "type": "string",
                    "description": "The signed receipt, a compact JWS verifiable with `/.well-known/jwks.json`.",
                    "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"
                }
            },
            "additionalProperties": true
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "A stable error code."},
                "message": {"type": "string", "description": "A human-readable explanation."}
            },
            "additionalProperties": true
        },
        "ValidationError": {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "error": {"type": "string", "const": "invalid_dossier"},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string", "description": "The field's name."},
                            "message": {"type": "string", "description": "What is wrong with it."}
                        },
                        "additionalProperties": true
                    }
                }
            },
            "additionalProperties": true
        },
        "Jwks": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/Jwk"}}},
            "additionalProperties": true
        },
        "Jwk": {
            "type": "object",
            "required": ["kty"],
            "properties": {
                "kty": {"type": "string", "examples": ["OKP", "EC"]},
                "kid": {"type": "string"},
                "alg": {"type": "string", "examples": ["EdDSA", "ES256"]},
                "use": {"type": "string", "const": "sig"},
                "crv": {"type": "string"},
                "x": {"type": "string"},
                "y": {"type": "string"}
            },
            "additionalProperties": true
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"type": "string", "examples": ["ok"]}},
            "additionalProperties": true
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "degraded", "unavailable"]},
                "identity_provider": {"type": "string", "enum": ["reachable", "unreachable"]},
                "identity_provider_circuit": {"type": "string", "enum": ["closed", "open", "half_open"]},
                "identity_providers": {
                    "type": "object",
                    "description": "With several identity providers: each one's state, by provider id.",
                    "additionalProperties": {"type": "string", "enum": ["reachable", "unreachable"]}
                },
                "database": {"type": "string", "enum": ["reachable", "unreachable"]}
            },
            "additionalProperties": true
        }
    }
    })
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
            ("/api/procedures", "get"),
            ("/api/procedures/{code}/decision", "get"),
            ("/api/procedures/{code}/submissions", "post"),
            ("/.well-known/jwks.json", "get"),
            ("/api/openapi.json", "get"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
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
            "201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "431",
        ] {
            assert!(responses[status].is_object(), "{status}");
        }
        assert_eq!(
            responses["401"]["headers"]["WWW-Authenticate"]["$ref"],
            "#/components/headers/StepUpChallenge"
        );
        let challenge = document["components"]["headers"]["StepUpChallenge"]["description"]
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
        assert_eq!(
            schemas["SubmissionResponse"]["required"],
            serde_json::json!(["dossier_code", "receipt"])
        );
        let error_item = &schemas["ValidationError"]["properties"]["errors"]["items"];
        assert_eq!(
            error_item["required"],
            serde_json::json!(["field", "message"])
        );
        assert_eq!(schemas["Referral"]["additionalProperties"], true);
        for property in [
            "centre",
            "address",
            "opening_hours",
            "checklist",
            "ticket_code",
        ] {
            assert!(
                schemas["Referral"]["properties"][property].is_object(),
                "{property}"
            );
        }
        assert_eq!(
            schemas["Decision"]["properties"]["decision"]["enum"],
            serde_json::json!(["online", "sign_in", "step_up", "in_person"])
        );
        assert_eq!(
            schemas["Procedure"]["required"],
            serde_json::json!(["code", "name", "required_level", "fields", "example"])
        );
    }
}
