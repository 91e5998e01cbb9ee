//! Real-name verification with a province's identity service.
//!
//! The provincial 统一身份认证 and e-licence services speak OpenID Connect
//! (or CAS). [`OidcVerifier`] is the OpenID Connect client path: it sends a
//! person to the provider ([`OidcVerifier::begin`]: discovery, a fresh
//! state, nonce and PKCE challenge) and, when the provider sends them back
//! with a code, exchanges it and checks the ID token — signature against the
//! provider's published keys, issuer, audience, expiry and nonce — before
//! reading the identity it vouches for ([`OidcVerifier::finish`]): the id
//! number or credit code in the claims the deployment names. Nothing here
//! knows accounts; civitas-identity decides what the vouched identity
//! verifies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::Mutex;

/// How long discovered provider metadata (and its signing keys) is used
/// before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// How long one HTTP exchange with the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider and this platform's registration with it.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer, e.g. `https://tyrz.sc.gov.cn/oidc` (discovery is read
    /// from `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id the provider issued to the platform.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// Where the provider sends the person back: the platform's
    /// `/api/v1/auth/verification/callback` as the public sees it.
    pub redirect_url: String,
    /// Scopes besides `openid` that release the identity claims.
    pub scopes: Vec<String>,
    /// The claim holding a person's resident id number.
    pub id_number_claim: String,
    /// The claim holding an enterprise's unified social credit code.
    pub credit_code_claim: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why a verification with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum RealNameError {
    /// The settings are unusable (a URL does not parse).
    #[error("统一身份认证配置无效 (the identity provider settings are invalid): {0}")]
    Settings(String),
    /// The provider cannot be reached or answered something unusable.
    #[error("统一身份认证服务不可用 (the identity provider is unavailable): {0}")]
    Unavailable(String),
    /// The code was refused, or the ID token did not verify.
    #[error("统一身份认证未通过 (the identity provider did not vouch): {0}")]
    Refused(String),
    /// The ID token names neither an id number nor a credit code.
    #[error(
        "统一身份认证未返回证件号码 (the identity provider returned no id number or credit code)"
    )]
    NoIdentity,
}

/// A verification sent to the provider: what to keep until it comes back.
#[derive(Debug, Clone)]
pub struct Begun {
    /// Where to send the person.
    pub url: String,
    /// The state the provider returns with the code.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier the code is exchanged with.
    pub pkce_verifier: String,
}

/// What the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The issuer.
    pub issuer: String,
    /// The provider's subject for the person.
    pub subject: String,
    /// The resident id number, if the provider released one.
    pub id_number: Option<String>,
    /// The credit code, if the provider released one.
    pub credit_code: Option<String>,
}

/// The OpenID Connect client of one provider.
#[derive(Debug, Clone)]
pub struct OidcVerifier {
    settings: Arc<OidcSettings>,
    http: HttpClient,
    metadata: Arc<Mutex<Option<(Instant, CoreProviderMetadata)>>>,
}

impl OidcVerifier {
    /// A client of the provider `settings` names (nothing is fetched yet).
    pub fn new(settings: OidcSettings) -> Result<OidcVerifier, RealNameError> {
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| RealNameError::Settings(e.to_string()))?;
        RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| RealNameError::Settings(e.to_string()))?;
        let client = reqwest::Client::builder()
            // The provider's redirects are the browser's business, never ours
            // (following one could leak the code elsewhere).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| RealNameError::Settings(e.to_string()))?;
        Ok(OidcVerifier {
            settings: Arc::new(settings),
            http: HttpClient(client),
            metadata: Arc::default(),
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Where the provider sends people back.
    pub fn redirect_url(&self) -> &str {
        &self.settings.redirect_url
    }

    async fn client(&self, fresh: bool) -> Result<ClientOf, RealNameError> {
        let mut cached = self.metadata.lock().await;
        let metadata = match cached.as_ref() {
            Some((at, metadata)) if !fresh && at.elapsed() < METADATA_TTL => metadata.clone(),
            _ => {
                let issuer = IssuerUrl::new(self.settings.issuer.clone())
                    .map_err(|e| RealNameError::Settings(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| RealNameError::Unavailable(error_chain(&e)))?;
                *cached = Some((Instant::now(), metadata.clone()));
                metadata
            }
        };
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| RealNameError::Settings(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a verification: the provider's authorization URL with a fresh
    /// state, nonce and PKCE challenge (and `login_hint`, when given).
    pub async fn begin(&self, login_hint: Option<&str>) -> Result<Begun, RealNameError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a verification: exchanges `code` with the PKCE verifier,
    /// verifies the ID token (signature, issuer, audience, expiry, `nonce`)
    /// and reads the identity it vouches for.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Vouched, RealNameError> {
        let client = self.client(false).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| RealNameError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| RealNameError::Refused(error_chain(&e)))?;
        let token = response
            .id_token()
            .ok_or_else(|| RealNameError::Refused("no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verified = match token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.subject().as_str().to_owned(),
            // The provider may have rotated its keys since discovery.
            Err(_) => {
                let fresh = self.client(true).await?;
                token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|e| RealNameError::Refused(error_chain(&e)))?
                    .subject()
                    .as_str()
                    .to_owned()
            }
        };
        // The token verified; its payload is read again for the claims the
        // deployment names (they are not standard claims).
        let payload = token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .ok_or_else(|| RealNameError::Refused("the ID token's payload is not JSON".into()))?;
        let claim = |name: &str| {
            payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let vouched = Vouched {
            issuer: self.settings.issuer.clone(),
            subject: verified,
            id_number: claim(&self.settings.id_number_claim),
            credit_code: claim(&self.settings.credit_code_claim),
        };
        if vouched.id_number.is_none() && vouched.credit_code.is_none() {
            return Err(RealNameError::NoIdentity);
        }
        Ok(vouched)
    }
}

type ClientOf = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The platform's reqwest client, speaking oauth2's HTTP interface.
#[derive(Debug, Clone)]
struct HttpClient(reqwest::Client);

/// An HTTP failure talking to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request =
                reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            builder
                .body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}
