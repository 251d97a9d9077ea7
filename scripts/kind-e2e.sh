#!/usr/bin/env bash
# Runs the example e2e suite on a real Kubernetes cluster: a throwaway kind
# cluster, the refnode image built from this checkout, and the least-privilege
# `tmpnet` ServiceAccount of deploy/rbac.yaml. Not run in CI; opt in with
#   TMPNET_KIND_E2E=1 scripts/kind-e2e.sh
#
# Environment:
#   KIND_CLUSTER      cluster name (default tmpnet-e2e)
#   KIND_REUSE=1      use an existing cluster of that name instead of failing;
#                     a reused cluster is never deleted by this script
#   KIND_KEEP=1       keep the cluster this script created (default: deleted)
#   KIND_LEFTOVER_GRACE
#                     seconds to wait for deletions still in progress before
#                     the leftover check fails (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TMPNET_KIND_E2E:-}" != "1" ]; then
    echo "kind-e2e.sh creates a kind cluster, builds and loads tmpnet/refnode, and runs the e2e suite on it; set TMPNET_KIND_E2E=1 to run it" >&2
    exit 1
fi

step() { printf '\n==> %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

require() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH; install it: $2"
}
require kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
require kubectl "https://kubernetes.io/docs/tasks/tools/"
require docker "https://docs.docker.com/engine/install/"
require cargo "https://rustup.rs"

CLUSTER="${KIND_CLUSTER:-tmpnet-e2e}"
NAMESPACE=tmpnet
ACCOUNT=tmpnet
IMAGE=tmpnet/refnode:latest
MANAGED=app.kubernetes.io/managed-by=tmpnet
GRACE="${KIND_LEFTOVER_GRACE:-30}"

WORK="$(mktemp -d)"
ADMIN_KUBECONFIG="$WORK/admin.kubeconfig"
SA_KUBECONFIG="$WORK/tmpnet.kubeconfig"
CREATED=0

cleanup() {
    local rc=$?
    if [ "$CREATED" = 1 ]; then
        if [ "${KIND_KEEP:-}" = "1" ]; then
            step "Keeping kind cluster $CLUSTER (KIND_KEEP=1); delete it with: kind delete cluster --name $CLUSTER"
        else
            step "Deleting kind cluster $CLUSTER"
            kind delete cluster --name "$CLUSTER" --kubeconfig "$ADMIN_KUBECONFIG" || rc=1
        fi
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

admin() { kubectl --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

step "Creating kind cluster $CLUSTER"
clusters="$(kind get clusters 2>/dev/null)" || die "kind get clusters failed; is the docker daemon running?"
if grep -qx -- "$CLUSTER" <<<"$clusters"; then
    if [ "${KIND_REUSE:-}" != "1" ]; then
        die "a kind cluster named $CLUSTER already exists; delete it, choose another KIND_CLUSTER, or set KIND_REUSE=1 to use it (it is then not deleted)"
    fi
    echo "reusing the existing cluster (KIND_REUSE=1); it will not be deleted"
else
    # --kubeconfig keeps the user's ~/.kube/config untouched. Only a cluster
    # this script created is ever deleted (kind removes one it failed to make).
    kind create cluster --name "$CLUSTER" --kubeconfig "$ADMIN_KUBECONFIG" --wait 180s
    CREATED=1
fi
kind get kubeconfig --name "$CLUSTER" >"$ADMIN_KUBECONFIG"

step "Building the images (scripts/build-images.sh)"
scripts/build-images.sh --skip-litecoind --skip-avalanchego

step "Loading $IMAGE into $CLUSTER"
# Pods use imagePullPolicy IfNotPresent: the loaded image is used as is.
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "Applying deploy/rbac.yaml"
admin apply -f deploy/rbac.yaml

step "Writing a kubeconfig for ServiceAccount $NAMESPACE/$ACCOUNT"
server="$(admin config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
admin config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
    | base64 -d >"$WORK/ca.crt"
if [ -z "$server" ] || [ ! -s "$WORK/ca.crt" ]; then
    die "could not read the server and CA of $CLUSTER from kind get kubeconfig"
fi
token="$(admin create token "$ACCOUNT" -n "$NAMESPACE" --duration=2h)"
kubectl config set-cluster "$CLUSTER" --kubeconfig "$SA_KUBECONFIG" \
    --server="$server" --certificate-authority="$WORK/ca.crt" --embed-certs=true >/dev/null
kubectl config set-credentials "$ACCOUNT" --kubeconfig "$SA_KUBECONFIG" --token="$token" >/dev/null
kubectl config set-context "$ACCOUNT@$CLUSTER" --kubeconfig "$SA_KUBECONFIG" \
    --cluster="$CLUSTER" --user="$ACCOUNT" --namespace="$NAMESPACE" >/dev/null
kubectl config use-context "$ACCOUNT@$CLUSTER" --kubeconfig "$SA_KUBECONFIG" >/dev/null
unset token
# The account must reach its namespace and nothing cluster-wide.
if ! kubectl --kubeconfig "$SA_KUBECONFIG" auth can-i create statefulsets.apps -n "$NAMESPACE" >/dev/null; then
    die "ServiceAccount $ACCOUNT cannot create statefulsets in $NAMESPACE; check deploy/rbac.yaml"
fi
if kubectl --kubeconfig "$SA_KUBECONFIG" auth can-i create namespaces >/dev/null 2>&1; then
    die "ServiceAccount $ACCOUNT can create namespaces; it is not least-privilege"
fi

step "Running the e2e suite on $CLUSTER as $NAMESPACE/$ACCOUNT (image $IMAGE)"
mkdir -p "$WORK/root"
suite_rc=0
E2E_USE_KUBERNETES=true \
    KUBECONFIG="$SA_KUBECONFIG" \
    TMPNET_KUBE_NAMESPACE="$NAMESPACE" \
    TMPNET_KUBE_IMAGE="$IMAGE" \
    TMPNET_ROOT_DIR="${TMPNET_ROOT_DIR:-$WORK/root}" \
    cargo test -p e2e-suite --locked || suite_rc=$?

step "Checking that nothing labelled $MANAGED is left in namespace $NAMESPACE"
leftover() {
    admin get all,configmaps,secrets,pvc,ingresses -n "$NAMESPACE" -l "$MANAGED" -o name
}
left="$(leftover)"
waited=0
if [ -n "$left" ]; then
    echo "still present after the suite (waiting up to ${GRACE}s for deletions in progress):"
    echo "$left"
fi
while [ -n "$left" ] && [ "$waited" -lt "$GRACE" ]; do
    sleep 2
    waited=$((waited + 2))
    left="$(leftover)"
done
if [ -n "$left" ]; then
    echo "error: objects left in namespace $NAMESPACE:" >&2
    echo "$left" >&2
    exit 1
fi
echo "none left"

if [ "$suite_rc" -ne 0 ]; then
    die "the e2e suite failed (exit $suite_rc)"
fi
step "kind e2e passed"
