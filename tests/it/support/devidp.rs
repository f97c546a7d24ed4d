//! Drives the built-in provider simulator the way a browser would, without a browser.

use reqwest::redirect::Policy;
use url::Url;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("reqwest client")
}

fn location(response: &reqwest::Response, base: &Url) -> Url {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on {} {}", response.status(), response.url()))
        .to_str()
        .expect("ascii location");
    base.join(value).expect("location is a URL")
}

/// Follows the authorization URL to the persona chooser, picks `persona`, and returns the
/// callback URL the provider sends the browser to.
pub(crate) async fn choose_persona(authorization_url: &Url, persona: &str) -> Url {
    let http = client();
    let response = http
        .get(authorization_url.clone())
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        response.status(),
        303,
        "authorize should redirect to the chooser"
    );
    let interaction = location(&response, authorization_url);
    let response = http
        .post(interaction.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("persona={persona}"))
        .send()
        .await
        .expect("choose persona");
    assert_eq!(
        response.status(),
        303,
        "choosing a persona should redirect to the portal"
    );
    location(&response, &interaction)
}
