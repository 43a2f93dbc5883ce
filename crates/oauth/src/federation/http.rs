//! The outbound HTTP of login federation over the crate's one client ([`crate::outbound`]):
//! every exchange bounded in time ([`TIMEOUT`], connect 2 s) and size ([`MAX_BODY`]), redirects
//! never followed, answers parsed as JSON objects.

use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Map, Value};

use crate::outbound::{self, HttpsClient, MAX_BODY, TIMEOUT};

/// Why an exchange failed (logged; never shown to the user).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Connection,
    #[error("status {0}")]
    Status(u16),
    #[error("response too large or broken")]
    Body,
    #[error("response is not a JSON object")]
    Json,
    #[error("invalid URL")]
    Url,
}

/// A bounded JSON client.
#[derive(Clone)]
pub(crate) struct JsonClient(HttpsClient);

impl JsonClient {
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Self(outbound::https_client()?))
    }

    /// `GET url` → JSON object (200 only).
    pub(crate) async fn get(&self, url: &str) -> Result<(Map<String, Value>, u16), FetchError> {
        let req = http::Request::get(url.parse::<http::Uri>().map_err(|_| FetchError::Url)?)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "portcullis-federation")
            .body(Full::new(Bytes::new()))
            .map_err(|_| FetchError::Url)?;
        self.send(req).await
    }

    /// `POST url` with a form body and `Authorization` → (JSON object, status). Error statuses
    /// with a JSON body are returned too (the token endpoint's RFC 6749 §5.2 errors).
    pub(crate) async fn post_form(
        &self,
        url: &str,
        auth: HeaderValue,
        body: String,
    ) -> Result<(Map<String, Value>, u16), FetchError> {
        let req = http::Request::post(url.parse::<http::Uri>().map_err(|_| FetchError::Url)?)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "portcullis-federation")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| FetchError::Url)?;
        self.send(req).await
    }

    async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<(Map<String, Value>, u16), FetchError> {
        let exchange = async {
            let resp = self
                .0
                .request(req)
                .await
                .map_err(|_| FetchError::Connection)?;
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) && status != 400 && status != 401 {
                return Err(FetchError::Status(status));
            }
            let bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|_| FetchError::Body)?
                .to_bytes();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok((map, status)),
                _ if status != 200 => Err(FetchError::Status(status)),
                _ => Err(FetchError::Json),
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}
