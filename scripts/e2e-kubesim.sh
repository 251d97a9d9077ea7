#!/usr/bin/env bash
# Simulated Kubernetes end to end (everything here is proven against
# tmpnet-kubesim, not a real cluster):
#   1. every manifest tmpnetctl renders is validated offline against the
#      official Kubernetes 1.33 schemas (kubernetes-validate, strict);
#   2. the repository's images are built for real (scripts/build-images.sh:
#      buildah here) and the simulator runs every container from them: the
#      nodes from docker/*.Dockerfile, the runner from Dockerfile.runner;
#   3. the simulator is started as a user would start kind, with the RBAC of
#      deploy/rbac.yaml applied and a kubeconfig for its least-privilege
#      ServiceAccount;
#   4. the example e2e suite runs unchanged in kube mode against it, and the
#      bitcoind-family chain suite with litecoind pods;
#   5. the suite runs inside the cluster as a runner Job (ENV_JOB_IMAGE):
#      passing, failing on purpose, detached with a forwarded secret,
#      interrupted with Ctrl-C, killed with kill -9 (the next run reaps),
#      with an image that does not exist, a missing ServiceAccount, a
#      deadline, a detached Job deleted mid-run;
#   6. after each, the namespace must hold nothing of tmpnet;
#   7. the simulator is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build (simulator, reference node, tmpnetctl)"
cargo build --quiet --locked -p tmpnet-kubesim -p tmpnet-refnode -p tmpnetctl
bin="$(pwd)/target/debug"

# The namespace holds no object of tmpnet (dependents go with their owners
# through garbage collection, which is eventual: allowed a few seconds).
check_empty() {
python3 - "$work/admin.kubeconfig" <<'PY'
import json, sys, urllib.request
server = json.load(open(sys.argv[1]))["clusters"][0]["cluster"]["server"]
paths = ["api/v1/namespaces/tmpnet/" + r for r in
         ("pods", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims")]
paths += ["apis/apps/v1/namespaces/tmpnet/statefulsets", "apis/batch/v1/namespaces/tmpnet/jobs",
          "apis/networking.k8s.io/v1/namespaces/tmpnet/ingresses"]
import time
def leftovers():
    left = []
    for path in paths:
        url = f"{server}/{path}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtmpnet"
        with urllib.request.urlopen(url) as response:
            items = json.load(response)["items"]
        left += [f"{path.rsplit('/', 1)[1]}/{i['metadata']['name']}" for i in items]
    return left
# Dependents go with their owners through garbage collection, which is
# eventual on a cluster: allow it a few seconds.
for _ in range(50):
    left = leftovers()
    if not left:
        break
    time.sleep(0.1)
if left:
    sys.exit("error: objects left in namespace tmpnet: " + ", ".join(left))
print("namespace tmpnet is empty of tmpnet objects")
PY

}

echo "== validate rendered manifests (kubernetes-validate --strict, Kubernetes 1.33)"
"$bin/tmpnetctl" render --runtime kube --node-count 3 >"$work/refnode.yaml"
"$bin/tmpnetctl" render --runtime kube --node-count 2 --node-kind bitcoind \
    --kube-exclusive-scheduling --kube-ingress-host nodes.example.com \
    --kube-ingress-secret nodes-tls --kube-volume-size 20 >"$work/bitcoind.yaml"
manifests=("$work/refnode.yaml" "$work/bitcoind.yaml" deploy/rbac.yaml)
# The snapshot tests' manifests, without insta's header (the first YAML
# document of a .snap file).
for snap in tmpnet-fixture/src/runtime/kube/snapshots/*.snap; do
    out="$work/snapshot-$(basename "$snap" .snap).yaml"
    awk 'n >= 2 { print } /^---$/ && n < 2 { n++ }' "$snap" >"$out"
    manifests+=("$out")
done
if command -v kubernetes-validate >/dev/null; then
    kubernetes-validate --strict -k 1.33.0 --quiet "${manifests[@]}"
    echo "all ${#manifests[@]} manifest files valid"
elif [ "${TMPNET_REQUIRE_REAL_NODES:-1}" = "1" ]; then
    echo "error: kubernetes-validate is missing; install it with \`python3 -m pip install kubernetes-validate\` (or set TMPNET_REQUIRE_REAL_NODES=0 to skip this check)" >&2
    exit 1
else
    echo "!! NOT RUN: manifest validation (kubernetes-validate is not installed)" >&2
fi

echo "== images (scripts/build-images.sh)"
runner=0
if command -v buildah >/dev/null 2>&1; then
    scripts/build-images.sh
fi
if [ -f target/images/oci/index.json ]; then
    images=(--image-dir target/images/oci)
    runner=1
elif [ "${TMPNET_REQUIRE_REAL_NODES:-1}" = "1" ]; then
    echo "error: no image layout to run containers from: buildah is missing; install it with \`apt-get install buildah debootstrap binutils\` (or set TMPNET_REQUIRE_REAL_NODES=0 to run host binaries instead)" >&2
    exit 1
else
    echo "!! NOT RUN: containers from real images, and the runner Job (buildah is not installed); nodes run from host binaries" >&2
    images=(--image-map "tmpnet/refnode:latest=$bin/tmpnet-refnode")
    if [ -x /usr/lib/litecoin/litecoind ]; then
        images+=(--image-map "tmpnet/litecoind:latest=/usr/lib/litecoin/litecoind")
    fi
fi

echo "== start the simulator (simulated cluster)"
"$bin/tmpnet-kubesim" serve --kubeconfig-out "$work/admin.kubeconfig" "${images[@]}" \
    --apply deploy/rbac.yaml \
    --service-account-kubeconfig "tmpnet/tmpnet=$work/tmpnet.kubeconfig" \
    2>"$work/simulator.log" &
sim_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/admin.kubeconfig" ] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/simulator.log" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/admin.kubeconfig" ] || { echo "error: the simulator did not start" >&2; exit 1; }

echo "== e2e suite in kube mode (simulated), as the tmpnet ServiceAccount"
E2E_USE_KUBERNETES=true KUBECONFIG="$work/tmpnet.kubeconfig" \
    TMPNET_ROOT_DIR="$work/root" \
    cargo test --locked -p e2e-suite

echo "== bitcoind-family (litecoind) chain suite in kube mode (simulated)"
if [ -x /usr/lib/litecoin/litecoind ]; then
    E2E_USE_KUBERNETES=true KUBECONFIG="$work/tmpnet.kubeconfig" \
        TMPNET_ROOT_DIR="$work/root" E2E_NODE_KIND=bitcoind E2E_NODE_COUNT=3 \
        cargo run --quiet --locked -p tmpnet-acceptance --bin chain-suite
elif [ "${TMPNET_REQUIRE_REAL_NODES:-1}" = "1" ]; then
    echo "error: litecoind is missing; install it with \`apt-get install litecoind\` (or set TMPNET_REQUIRE_REAL_NODES=0 to skip)" >&2
    exit 1
else
    echo "!! NOT RUN: chain suite in kube mode (litecoind is not installed)" >&2
fi

echo "== the namespace holds nothing of tmpnet"
check_empty

if [ "$runner" = 1 ]; then
    echo "== the runner cases (tests/runner_e2e)"
    # The simulator's log is in $work already, which the cases scan.
    E2E_USE_KUBERNETES=true KUBECONFIG="$work/tmpnet.kubeconfig" TMPNET_ROOT_DIR="$work/root" \
        ADMIN_KUBECONFIG="$work/admin.kubeconfig" TMPNETCTL="$bin/tmpnetctl" RUNNER_E2E_WORK="$work" \
        cargo run --quiet --locked -p tmpnet-acceptance --bin runner-e2e
fi

echo "== stop the simulator"
kill -TERM "$sim_pid"
wait "$sim_pid"
sim_pid=""
echo "simulated kube e2e: passed"
