//! SMS over an HTTP gateway whose contract is Aliyun's Short Message
//! Service RPC API (dysmsapi, version 2017-05-25), the one most bureaus
//! already use: `SendSms` with a registered sign name and template, the
//! template's variables as JSON, and our delivery id as `OutId`;
//! `QuerySendDetails` to find out, after a crash, whether a message with
//! that `OutId` was accepted. Requests are signed as the RPC API signs them
//! (HMAC-SHA1 over the canonical query, key = secret + `&`).
//!
//! The client speaks plain HTTP: a government network reaches the provider
//! through its egress proxy or an internal SMS platform (政务短信平台) that
//! terminates TLS; `https://` endpoints are refused when configured.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::Deserialize;

use crate::NotifyError;

/// The API version the requests name.
pub const API_VERSION: &str = "2017-05-25";

/// How to reach and sign for the gateway.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// The endpoint, `http://host[:port]/`.
    pub endpoint: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: String,
    /// The registered sign name (签名), e.g. 上海市民政局.
    pub sign_name: String,
    /// The region the requests name.
    pub region: String,
    /// How long one request may take.
    pub timeout: Duration,
}

/// How a gateway call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider refused the request.
    #[error("短信网关拒绝 (the SMS gateway refused): {code}: {message}")]
    Refused {
        /// The provider's code (`isv.MOBILE_NUMBER_ILLEGAL`, …).
        code: String,
        /// Its message.
        message: String,
        /// Whether no retry can succeed (the number or template is wrong).
        permanent: bool,
    },
    /// The gateway could not be reached or answered nonsense.
    #[error("短信网关不可用 (the SMS gateway is unavailable): {0}")]
    Unavailable(String),
}

/// Codes about the message itself: sending it again cannot succeed.
const PERMANENT: [&str; 6] = [
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.TEMPLATE_MISSING_PARAMETERS",
    "isv.PARAM_LENGTH_LIMIT",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.INVALID_PARAMETERS",
];

/// The client.
#[derive(Debug, Clone)]
pub struct SmsGateway {
    settings: SmsSettings,
    client: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendAnswer {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    biz_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryAnswer {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    total_count: i64,
    #[serde(default, rename = "SmsSendDetailDTOs")]
    details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default, rename = "SmsSendDetailDTO")]
    items: Vec<Detail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Detail {
    #[serde(default)]
    out_id: Option<String>,
    #[serde(default)]
    send_status: i64,
}

impl SmsGateway {
    /// A client of the gateway `settings` name.
    pub fn new(settings: SmsSettings) -> Result<SmsGateway, NotifyError> {
        if !settings.endpoint.starts_with("http://") {
            return Err(NotifyError::Settings(format!(
                "短信网关地址须为 http://（经出口代理或政务短信平台）: {} (the SMS endpoint must be http://, through the egress proxy or the government SMS platform)",
                settings.endpoint
            )));
        }
        for (name, value) in [
            ("access key id", &settings.access_key_id),
            ("access key secret", &settings.access_key_secret),
            ("sign name", &settings.sign_name),
        ] {
            if value.trim().is_empty() {
                return Err(NotifyError::Settings(format!("SMS {name} is empty")));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| NotifyError::Settings(e.to_string()))?;
        Ok(SmsGateway { settings, client })
    }

    /// Sends template `template` filled with `params` (a JSON object) to
    /// `phone`, tagged `out_id`; the provider's BizId.
    pub async fn send(
        &self,
        phone: &str,
        template: &str,
        params: &str,
        out_id: &str,
    ) -> Result<String, SmsError> {
        let mut query = BTreeMap::new();
        query.insert("PhoneNumbers".to_owned(), phone.to_owned());
        query.insert("SignName".to_owned(), self.settings.sign_name.clone());
        query.insert("TemplateCode".to_owned(), template.to_owned());
        query.insert("TemplateParam".to_owned(), params.to_owned());
        query.insert("OutId".to_owned(), out_id.to_owned());
        let answer: SendAnswer = self.call("SendSms", query).await?;
        if answer.code != "OK" {
            return Err(refused(answer.code, answer.message));
        }
        answer
            .biz_id
            .ok_or_else(|| SmsError::Unavailable("OK without a BizId".into()))
    }

    /// Whether a message tagged `out_id` was accepted for `phone` on `day`
    /// (`yyyyMMdd`, China time), failed ones aside.
    pub async fn was_sent(&self, phone: &str, day: &str, out_id: &str) -> Result<bool, SmsError> {
        const PAGE: i64 = 50;
        // A day's messages to one number: a few pages at most.
        for page in 1..=20 {
            let mut query = BTreeMap::new();
            query.insert("PhoneNumber".to_owned(), phone.to_owned());
            query.insert("SendDate".to_owned(), day.to_owned());
            query.insert("PageSize".to_owned(), PAGE.to_string());
            query.insert("CurrentPage".to_owned(), page.to_string());
            let answer: QueryAnswer = self.call("QuerySendDetails", query).await?;
            if answer.code != "OK" {
                return Err(refused(answer.code, answer.message));
            }
            let items = answer.details.map(|d| d.items).unwrap_or_default();
            // SendStatus 2 is a failed message: that one did not reach the
            // person, so sending again is right.
            if items
                .iter()
                .any(|d| d.out_id.as_deref() == Some(out_id) && d.send_status != 2)
            {
                return Ok(true);
            }
            if page * PAGE >= answer.total_count || items.is_empty() {
                break;
            }
        }
        Ok(false)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        mut query: BTreeMap<String, String>,
    ) -> Result<T, SmsError> {
        query.insert("Action".into(), action.into());
        query.insert("Version".into(), API_VERSION.into());
        query.insert("Format".into(), "JSON".into());
        query.insert("AccessKeyId".into(), self.settings.access_key_id.clone());
        query.insert("RegionId".into(), self.settings.region.clone());
        query.insert("SignatureMethod".into(), "HMAC-SHA1".into());
        query.insert("SignatureVersion".into(), "1.0".into());
        query.insert("SignatureNonce".into(), uuid::Uuid::new_v4().to_string());
        query.insert(
            "Timestamp".into(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let signature = sign("POST", &query, &self.settings.access_key_secret);
        let body = format!(
            "{}&Signature={}",
            canonical_query(&query),
            percent_encode(&signature)
        );
        let answer = self
            .client
            .post(&self.settings.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?;
        let status = answer.status();
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?;
        // The provider answers refusals with a 4xx and the same JSON body.
        serde_json::from_slice(&bytes).map_err(|_| {
            SmsError::Unavailable(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })
    }
}

fn refused(code: String, message: String) -> SmsError {
    SmsError::Refused {
        permanent: PERMANENT.contains(&code.as_str()),
        code,
        message,
    }
}

/// RFC 3986 percent-encoding as the RPC API signs: every byte but
/// `A–Z a–z 0–9 - _ . ~` as `%XX` (upper-case hex).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The parameters sorted by name, each `name=value` percent-encoded,
/// joined by `&`.
pub fn canonical_query(query: &BTreeMap<String, String>) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The request signature: Base64 of HMAC-SHA1, keyed with `secret&`, over
/// `METHOD&%2F&` + the percent-encoded canonical query (without
/// `Signature`).
pub fn sign(method: &str, query: &BTreeMap<String, String>, secret: &str) -> String {
    let string_to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(query))
    );
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
    else {
        // HMAC takes a key of any length.
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a b*c~d/é"), "a%20b%2Ac~d%2F%C3%A9");
    }

    /// The signature example of Aliyun's RPC signing documentation
    /// (DescribeRegions; AccessKey secret `testsecret`).
    #[test]
    fn the_signature_matches_the_providers_documented_example() {
        let mut query = BTreeMap::new();
        for (k, v) in [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ] {
            query.insert(k.to_owned(), v.to_owned());
        }
        assert_eq!(
            sign("GET", &query, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }
}
