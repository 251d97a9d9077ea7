//! Connecting to the cluster, and turning API failures into one-line errors
//! that say what to do.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Result};

/// Builds a client: from `kubeconfig` when given, else `KUBECONFIG` or
/// `~/.kube/config`, else the in-cluster service account; `context`
/// chooses a kubeconfig context.
pub async fn connect(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = read_kubeconfig(path)?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(load_error)?
        }
        None => {
            check_default_kubeconfigs()?;
            if context.is_some() {
                Config::from_kubeconfig(&options)
                    .await
                    .map_err(load_error)?
            } else {
                Config::infer().await.map_err(load_error)?
            }
        }
    };
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| Error::Kube {
        action: "create a Kubernetes client".into(),
        reason: first_line(&e),
    })?;
    check_server(&client, &server).await?;
    Ok(client)
}

/// Reads the kubeconfig at `path`, refusing one that is no regular file or
/// too big before a byte of it is read.
pub fn read_kubeconfig(path: &std::path::Path) -> Result<Kubeconfig> {
    check_kubeconfig_file(path, "check --kubeconfig / KUBECONFIG")?;
    Kubeconfig::read_from(path).map_err(|e| Error::Kube {
        action: format!("read the kubeconfig {}", path.display()),
        // The parser's first line says what and where; the lines after it
        // draw the spot.
        reason: format!("{}; check --kubeconfig / KUBECONFIG", first_line(&e)),
    })
}

/// The largest kubeconfig read (a real one, certificates inlined, is tens
/// of KiB).
const MAX_KUBECONFIG_BYTES: u64 = 16 << 20;

/// Checks the kubeconfigs the client would read by itself (each file in
/// `KUBECONFIG`, else `~/.kube/config`) as a named one is: a FIFO, a device
/// or a huge file is refused before the client reads a byte of it (it
/// would hang, or read until memory runs out).
fn check_default_kubeconfigs() -> Result<()> {
    let paths: Vec<std::path::PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => std::env::var_os("HOME")
            .map(|home| std::path::Path::new(&home).join(".kube/config"))
            .into_iter()
            .collect(),
    };
    for path in paths {
        check_kubeconfig_file(&path, "check KUBECONFIG, or pass --kubeconfig")?;
    }
    Ok(())
}

/// Refuses a kubeconfig that is no regular file or is too big, saying
/// `fix`; one that is missing passes (the client says so, or infers
/// another source).
fn check_kubeconfig_file(path: &std::path::Path, fix: &str) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let Some(problem) = crate::sys::files::not_small_file(&meta, MAX_KUBECONFIG_BYTES) else {
        return Ok(());
    };
    Err(Error::Kube {
        action: format!("read the kubeconfig {}", path.display()),
        reason: format!("{problem}; {fix}"),
    })
}

/// Asks the server its version, the one request every Kubernetes API server
/// answers for any account: a cluster that is down, a wrong server or
/// credentials refused fail here, in one line, before anything is made,
/// rather than in every later call.
async fn check_server(client: &Client, server: &str) -> Result<()> {
    let reason = match call(client.apiserver_version()).await {
        Ok(_) => return Ok(()),
        Err(kube::Error::SerdeError(_)) => not_kubernetes("its answer"),
        Err(e @ kube::Error::Api(_)) if crate::error::kube_answer_unparsed(&e) => {
            not_kubernetes(&crate::error::kube_reason(&e))
        }
        Err(e) => crate::error::kube_reason(&e),
    };
    Err(Error::Kube {
        action: format!("reach the Kubernetes API server at {server}"),
        reason,
    })
}

/// What a network's runtime does in its namespace (verb, API group,
/// resource, subresource): the first of each kind of call, so an account
/// missing a grant is told before anything is made. `deploy/rbac.yaml`
/// grants them all.
const NEEDED: [(&str, &str, &str, &str); 10] = [
    ("create", "", "configmaps", ""),
    ("patch", "", "configmaps", ""),
    ("create", "", "secrets", ""),
    ("create", "", "services", ""),
    ("create", "apps", "statefulsets", ""),
    ("get", "apps", "statefulsets", ""),
    ("get", "", "pods", ""),
    ("watch", "", "pods", ""),
    ("get", "", "pods", "log"),
    ("create", "", "pods", "portforward"),
];

/// What a network of a kind whose health command runs in its pods needs
/// besides [`NEEDED`]: the exec stream opens with a GET, which clusters
/// before 1.30 authorize as `get` and later ones as `create`.
const NEEDED_FOR_EXEC: [(&str, &str, &str, &str); 2] =
    [("get", "", "pods", "exec"), ("create", "", "pods", "exec")];

/// Asks the server (SelfSubjectAccessReview) whether this account may do
/// what a network needs in `namespace` (with `exec`, running commands in
/// its pods too); refuses in one line naming every missing grant. A server
/// that does not answer reviews is not refused here: its first refusal
/// names the fix as it happens.
pub async fn check_access(client: &Client, namespace: &str, exec: bool) -> Result<()> {
    let mut needed = NEEDED.to_vec();
    if exec {
        needed.extend(NEEDED_FOR_EXEC);
    }
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let reviews: kube::Api<SelfSubjectAccessReview> = kube::Api::all(client.clone());
    let ask = |(verb, group, resource, sub): (&str, &str, &str, &str)| {
        let reviews = reviews.clone();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some(verb.to_owned()),
                    group: Some(group.to_owned()),
                    resource: Some(resource.to_owned()),
                    subresource: Some(sub.to_owned()).filter(|s| !s.is_empty()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        async move {
            call(reviews.create(&kube::api::PostParams::default(), &review))
                .await
                .map(|answer| answer.status.is_some_and(|s| s.allowed))
        }
    };
    let answers = futures::future::join_all(needed.iter().copied().map(ask)).await;
    let mut missing = Vec::new();
    for ((verb, group, resource, sub), answer) in needed.into_iter().zip(answers) {
        match answer {
            Ok(true) => {}
            Ok(false) => missing.push(grant_name(verb, group, resource, sub)),
            Err(e) if matches!(status_code(&e), Some(404 | 405 | 501)) => {
                tracing::debug!(error = %e, "the server answers no access reviews; not checked");
                return Ok(());
            }
            Err(e) => return Err(api_error("ask the server what this account may do", e)),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Kube {
        action: format!("start a network in namespace {namespace}"),
        reason: format!(
            "this account may not {}; bind it a Role granting them (deploy/rbac.yaml lists every grant the runtime needs), or choose another --kube-context / --kube-namespace",
            missing.join(", ")
        ),
    })
}

/// `create statefulsets.apps`, `get pods/log`: a grant as RBAC names it.
fn grant_name(verb: &str, group: &str, resource: &str, sub: &str) -> String {
    let resource = match sub {
        "" => resource.to_owned(),
        sub => format!("{resource}/{sub}"),
    };
    match group {
        "" => format!("{verb} {resource}"),
        group => format!("{verb} {resource}.{group}"),
    }
}

/// The reason for a server whose answer is not a Kubernetes API server's.
fn not_kubernetes(answer: &str) -> String {
    format!("{answer} is not a Kubernetes API server's; check the server in --kubeconfig / KUBECONFIG and --kube-context")
}

/// The first line of `e`'s message.
fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn load_error(e: impl std::fmt::Display) -> Error {
    Error::Kube {
        action: "load the Kubernetes configuration".into(),
        reason: format!(
            "{}; pass --kubeconfig, set KUBECONFIG, or check --kube-context",
            first_line(&e)
        ),
    }
}

/// How long one API call (not a watch) may take.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs one API call with a time limit ([`CALL_TIMEOUT`]): a call that
/// hangs on a half-open connection fails as unreachable instead of blocking
/// a stop forever.
pub async fn call<T>(
    request: impl std::future::Future<Output = std::result::Result<T, kube::Error>>,
) -> std::result::Result<T, kube::Error> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from the API server within {}s",
                CALL_TIMEOUT.as_secs()
            ),
        )))),
    }
}

/// A typed namespaced API object that can be listed, read, made and
/// deleted (every k8s-openapi namespaced kind).
pub trait NamespacedObject:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> NamespacedObject for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

/// Deletes `name` with `params`; an object already gone is no error.
/// `what` names it in the error (`pod x`).
pub async fn delete_if_present<K>(
    api: &kube::Api<K>,
    name: &str,
    params: &kube::api::DeleteParams,
    what: &str,
) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match call(api.delete(name, params)).await {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(api_error(format!("delete {what}"), e)),
    }
}

/// The HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Wraps a failed API call; the error keeps kube's as its source.
pub fn api_error(action: impl Into<String>, e: kube::Error) -> Error {
    Error::KubeApi {
        action: action.into(),
        source: Box::new(e),
    }
}

/// Why an API call failed, on one line, with the fix for the usual causes.
pub fn api_reason(e: &kube::Error) -> String {
    crate::error::kube_reason(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A kubeconfig naming `server`, in `dir`.
    fn kubeconfig(dir: &std::path::Path, server: &str) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A server answering every request with `status` (`404 Not Found`)
    /// and `body`.
    async fn serve(status: &str, body: &str) -> String {
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                // The whole request (a GET: its headers), then the answer.
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        format!("http://{address}")
    }

    async fn connect_error(server: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = kubeconfig(dir.path(), server);
        match connect(Some(&path), None).await {
            Ok(_) => panic!("{server} was taken for a Kubernetes API server"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn a_cluster_out_of_reach_or_no_api_server_is_one_line_naming_the_server() {
        // Nothing listens on port 1.
        let refused = connect_error("https://127.0.0.1:1").await;
        assert!(
            refused.starts_with(
                "Kubernetes: cannot reach the Kubernetes API server at https://127.0.0.1:1/"
            ),
            "{refused}"
        );
        assert!(refused.contains("is the cluster reachable?"), "{refused}");
        assert!(refused.contains("refused"), "the cause is named: {refused}");

        let empty = serve("404 Not Found", "").await;
        let e = connect_error(&empty).await;
        assert!(
            e.contains("HTTP 404 with an empty body is not a Kubernetes API server's"),
            "{e}"
        );

        let page = serve("500 Oops", "<html>\n<b>down</b>\n</html>\n\n\n").await;
        let e = connect_error(&page).await;
        assert!(
            e.contains("HTTP 500: <html> <b>down</b> </html> is not"),
            "{e}"
        );

        let html = serve("200 OK", "hello\n").await;
        let e = connect_error(&html).await;
        assert!(
            e.contains("its answer is not a Kubernetes API server's"),
            "{e}"
        );

        for e in [refused, e] {
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn a_kubeconfig_that_does_not_parse_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, "garbage: [\n").unwrap();
        let e = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(connect(Some(&path), None))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("unclosed bracket"), "{e}");
        assert!(e.ends_with("check --kubeconfig / KUBECONFIG"), "{e}");
    }
}
