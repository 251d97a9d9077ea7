//! The API-server side of contract tests: kube's tower-test mock, answering
//! one expected request at a time.

use http::{Request, Response};
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::Handle;

/// The test's end of a mocked API server.
pub(crate) type Mock = Handle<Request<Body>, Response<Body>>;

/// Takes the next request, checks its method and path (and that its query
/// contains each of `query`), answers `code` with `body` (JSON; text when
/// `body` is a string, as a log is), and returns what was sent: the JSON
/// body (`Null` when empty), the headers and the query.
pub(crate) async fn expect(
    handle: &mut Mock,
    method: &str,
    path: &str,
    query: &[&str],
    code: u16,
    body: Value,
) -> (Value, http::HeaderMap, String) {
    let (request, send) = handle
        .next_request()
        .await
        .unwrap_or_else(|| panic!("expected {method} {path}, but no request came"));
    let uri = request.uri().clone();
    assert_eq!(
        (request.method().as_str(), uri.path()),
        (method, path),
        "unexpected request {} {uri}",
        request.method()
    );
    let q = uri.query().unwrap_or_default().to_owned();
    for part in query {
        assert!(
            q.contains(part),
            "{method} {path}: query {q:?} lacks {part:?}"
        );
    }
    let headers = request.headers().clone();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let sent = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    let (payload, kind) = match &body {
        Value::String(text) => (text.clone().into_bytes(), "text/plain"),
        other => (serde_json::to_vec(other).unwrap(), "application/json"),
    };
    send.send_response(
        Response::builder()
            .status(code)
            .header("content-type", kind)
            .body(Body::from(payload))
            .unwrap(),
    );
    (sent, headers, q)
}
