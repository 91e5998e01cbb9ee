//! A local SMS gateway that speaks the provider's contract (Aliyun
//! dysmsapi 2017-05-25: `SendSms`, `QuerySendDetails`, the RPC request
//! signature checked with its own HMAC-SHA1), records what it accepted,
//! and can fail or hold requests on demand — for tests and for trying
//! the platform's SMS channel by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Form, Json, Router, routing::post};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// The AccessKey id the gateway accepts.
pub const ACCESS_KEY_ID: &str = "LTAI-civitas-test";
/// Its secret.
pub const ACCESS_KEY_SECRET: &str = "civitas-test-secret";

/// A message the gateway accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sms {
    /// The number.
    pub phone: String,
    /// The sign name.
    pub sign_name: String,
    /// The template code.
    pub template: String,
    /// The template's variables.
    pub params: Value,
    /// The sender's tag.
    pub out_id: String,
    /// The id the gateway gave it.
    pub biz_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    accepted: Vec<Sms>,
    fail_next: Vec<String>,
    requests: usize,
}

#[derive(Debug, Default)]
struct Server {
    inner: Mutex<Inner>,
    /// Where an accepted request's answer waits while the test holds it.
    gate: crate::gate::Gate,
}

type Shared = Arc<Server>;

/// A running gateway on a loopback port; stopped when dropped.
#[derive(Debug)]
pub struct SmsGateway {
    /// Its endpoint (`http://127.0.0.1:port/`).
    pub url: String,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SmsGateway {
    /// Starts one on its own thread.
    pub fn start() -> SmsGateway {
        let shared: Shared = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind the SMS gateway: {e}"));
        let url = format!(
            "http://{}/",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async move {
                let _ = listener.set_nonblocking(true);
                let listener =
                    tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| panic!("{e}"));
                let app = Router::new().route("/", post(answer)).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        SmsGateway {
            url,
            shared,
            stop: Some(stop),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What it accepted, in order.
    pub fn accepted(&self) -> Vec<Sms> {
        self.inner().accepted.clone()
    }

    /// Requests received in all (refused ones too).
    pub fn requests(&self) -> usize {
        self.inner().requests
    }

    /// The next `n` `SendSms` requests are refused with `code`.
    pub fn fail_next(&self, n: usize, code: &str) {
        self.inner()
            .fail_next
            .extend((0..n).map(|_| code.to_owned()));
    }

    /// From now on a `SendSms` request is accepted (recorded) but not
    /// answered until [`SmsGateway::release`]: a sender killed meanwhile
    /// never learns that its message went.
    pub fn hold(&self) {
        self.shared.gate.close();
    }

    /// Requests accepted and waiting for an answer.
    pub fn held(&self) -> usize {
        self.shared.gate.held()
    }

    /// Answers every held request and holds no more.
    pub fn release(&self) {
        self.shared.gate.open();
    }
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        self.release();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(
            json!({"Code": code, "Message": message, "RequestId": uuid::Uuid::new_v4().to_string()}),
        ),
    )
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The signature the request should carry (the provider's documented
/// algorithm, written here independently of the platform's client).
fn expected_signature(params: &HashMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> =
        params.iter().filter(|(k, _)| *k != "Signature").collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("POST&%2F&{}", encode(&canonical));
    let Ok(mut mac) =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{ACCESS_KEY_SECRET}&").as_bytes())
    else {
        return String::new();
    };
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn answer(
    State(shared): State<Shared>,
    Form(params): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    shared
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests += 1;
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    for required in [
        "AccessKeyId",
        "Action",
        "Version",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Signature",
        "Format",
    ] {
        if !params.contains_key(required) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "MissingParameter",
                &format!("{required} is mandatory"),
            );
        }
    }
    if get("AccessKeyId") != ACCESS_KEY_ID {
        return refuse(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        );
    }
    if get("Signature") != expected_signature(&params) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        );
    }
    if get("Version") != "2017-05-25" {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        );
    }
    match get("Action").as_str() {
        "SendSms" => send(&shared, &params).await,
        "QuerySendDetails" => query(&shared, &params),
        other => refuse(StatusCode::BAD_REQUEST, "InvalidAction.NotFound", other),
    }
}

async fn send(shared: &Shared, params: &HashMap<String, String>) -> (StatusCode, Json<Value>) {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let phone = get("PhoneNumbers");
    if phone.len() != 11 || !phone.starts_with('1') || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return (
            StatusCode::OK,
            Json(json!({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})),
        );
    }
    let Ok(template_params) = serde_json::from_str::<Value>(&get("TemplateParam")) else {
        return (
            StatusCode::OK,
            Json(json!({"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"})),
        );
    };
    let biz_id = format!("{:016}^0", rand_id());
    {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.fail_next.is_empty() {
            let code = inner.fail_next.remove(0);
            return (
                StatusCode::OK,
                Json(json!({"Code": code, "Message": "injected failure"})),
            );
        }
        inner.accepted.push(Sms {
            phone,
            sign_name: get("SignName"),
            template: get("TemplateCode"),
            params: template_params,
            out_id: get("OutId"),
            biz_id: biz_id.clone(),
        });
    }
    // Accepted: the answer may be held (a sender killed meanwhile never
    // learns that its message went).
    let _ = shared.gate.pass().await;
    (
        StatusCode::OK,
        Json(
            json!({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": uuid::Uuid::new_v4().to_string()}),
        ),
    )
}

fn query(shared: &Shared, params: &HashMap<String, String>) -> (StatusCode, Json<Value>) {
    let phone = params.get("PhoneNumber").cloned().unwrap_or_default();
    let size: usize = params
        .get("PageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    let page: usize = params
        .get("CurrentPage")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    let mine: Vec<&Sms> = inner.accepted.iter().filter(|s| s.phone == phone).collect();
    let items: Vec<Value> = mine
        .iter()
        .skip(size.saturating_mul(page.saturating_sub(1)))
        .take(size)
        .map(|s| {
            json!({"PhoneNum": s.phone, "SendStatus": 3, "ErrCode": "DELIVERED", "TemplateCode": s.template,
                   "Content": s.params.to_string(), "OutId": s.out_id})
        })
        .collect();
    (
        StatusCode::OK,
        Json(
            json!({"Code": "OK", "Message": "OK", "TotalCount": mine.len(),
                    "SmsSendDetailDTOs": {"SmsSendDetailDTO": items}}),
        ),
    )
}

fn rand_id() -> u64 {
    let id = uuid::Uuid::new_v4();
    let bytes = id.as_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]) % 10_000_000_000_000_000
}
