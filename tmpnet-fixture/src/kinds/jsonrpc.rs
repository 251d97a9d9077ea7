//! Sending a JSON-RPC request and reading its reply, shared by the kinds'
//! clients (bitcoind's RPC, avalanchego's APIs): transport failures, a
//! body that is not JSON and an `error` member all become one
//! [`Error::Rpc`] naming the URL and the method.

use serde_json::Value;

use crate::error::{Error, Result};

/// Sends `request` (a JSON-RPC call of `method` to `url`) and returns the
/// reply's `result` (`null` when absent).
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
    method: &str,
) -> Result<Value> {
    let rpc_error = |message: String| Error::Rpc {
        url: url.to_owned(),
        method: method.to_owned(),
        message,
    };
    let resp = request.send().await.map_err(|e| rpc_error(e.to_string()))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| rpc_error(e.to_string()))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| rpc_error(format!("HTTP {status}: {}", text.trim())))?;
    if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
        let message = err.get("message").and_then(Value::as_str);
        return Err(rpc_error(message.unwrap_or("unknown error").to_owned()));
    }
    Ok(value.get("result").cloned().unwrap_or(Value::Null))
}
