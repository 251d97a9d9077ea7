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

# Runs a command that must fail, its output in $work/<log>.log, which must
# hold a line matching <pattern>: must_fail <log> <pattern> <command...>
must_fail() {
    local log="$work/$1.log" pattern="$2"
    shift 2
    if "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: \`$*\` passed; it must fail" >&2
        exit 1
    fi
    grep -- "$pattern" "$log" \
        || { cat "$log" >&2; echo "error: the failure does not say /$pattern/" >&2; exit 1; }
}

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
manifests=("$work/refnode.yaml" "$work/bitcoind.yaml" deploy/rbac.yaml
    tmpnet-fixture/src/runtime/kube/snapshots/*.yaml)
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
    export E2E_USE_KUBERNETES=true KUBECONFIG="$work/tmpnet.kubeconfig" TMPNET_ROOT_DIR="$work/root"
    tmpnetctl="$bin/tmpnetctl"

    echo "== the suite inside the cluster: a runner Job from tmpnet/runner:latest"
    ENV_JOB_IMAGE=tmpnet/runner:latest cargo test --locked -p e2e-suite 2>&1 | tee "$work/runner.log"
    grep -q "running the suite in the cluster: Job" "$work/runner.log"
    grep -q "test result: ok" "$work/runner.log"
    check_empty

    echo "== a test failing in the Job fails the local cargo test"
    ENV_JOB_IMAGE=tmpnet/runner:latest TMPNET_RUNNER_ENV=E2E_MIN E2E_MIN_NODES=99 \
        must_fail failing "the suite expects at least 99" cargo test --locked -p e2e-suite settings::
    echo "failed as it should: $(grep -c FAILED "$work/failing.log") FAILED lines, the reason shown locally"
    check_empty

    echo "== detached, with a forwarded secret"
    token="tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    ENV_JOB_IMAGE=tmpnet/runner:latest DETACH_RUNNER=true TMPNET_RUNNER_ENV=E2E_API E2E_API_TOKEN="$token" \
        cargo test --locked -p e2e-suite >"$work/detached.log" 2>&1
    job="$(sed -n 's/^runner Job \([^ ]*\) runs .*/\1/p' "$work/detached.log")"
    [ -n "$job" ] || { cat "$work/detached.log" >&2; echo "error: detached mode printed no Job" >&2; exit 1; }
    "$tmpnetctl" runner list | tee "$work/list.log"
    grep -q "^$job .* running$" "$work/list.log" \
        || { echo "error: the detached run returned after its tests ended, not when they started" >&2; exit 1; }
    python3 - "$work/admin.kubeconfig" "$job" "$token" <<'PY'
import json, sys, urllib.request
server = json.load(open(sys.argv[1]))["clusters"][0]["cluster"]["server"]
job, token = sys.argv[2], sys.argv[3]
spec = urllib.request.urlopen(f"{server}/apis/batch/v1/namespaces/tmpnet/jobs/{job}").read().decode()
if token in spec:
    sys.exit("error: the forwarded secret is in the Job's spec")
secret = json.load(urllib.request.urlopen(f"{server}/api/v1/namespaces/tmpnet/secrets/{job}-env"))
if "E2E_API_TOKEN" not in secret.get("data", {}):
    sys.exit("error: the forwarded variable is not in the Job's Secret")
owners = [o["name"] for o in secret["metadata"].get("ownerReferences", [])]
if owners != [job]:
    sys.exit(f"error: the Secret is owned by {owners}, not the Job")
print("the forwarded secret is in a Secret owned by the Job, not in its spec")
PY
    "$tmpnetctl" runner wait "$job"
    "$tmpnetctl" runner logs "$job" >"$work/job.log"
    grep -q "test result: ok" "$work/job.log"
    if grep -rqF "$token" "$work"/*.log "$work/root"; then
        echo "error: the forwarded secret appears in the output" >&2
        exit 1
    fi
    echo "the secret appears in no output (local, runner log, simulator log, network directories)"
    "$tmpnetctl" runner delete "$job"
    check_empty

    echo "== Ctrl-C during a run"
    test_bin="target/debug/deps/$(ls target/images/runner/bin | grep '^e2e-' | head -1)"
    ENV_JOB_IMAGE=tmpnet/runner:latest "$test_bin" >"$work/interrupted.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 1 300); do
        "$tmpnetctl" runner list 2>/dev/null | grep -q " running$" && grep -q "^running [0-9]* tests" "$work/interrupted.log" && break
        sleep 0.1
    done
    grep -q "^running [0-9]* tests" "$work/interrupted.log" \
        || { cat "$work/interrupted.log" >&2; echo "error: the runner did not start its tests" >&2; exit 1; }
    kill -INT "$run_pid"
    rc=0
    wait "$run_pid" || rc=$?
    [ "$rc" = 130 ] || { cat "$work/interrupted.log" >&2; echo "error: an interrupted run exited $rc, not 130" >&2; exit 1; }
    echo "interrupted: exit code $rc"
    check_empty

    echo "== kill -9 of the local side: the next run deletes the Job and the network"
    ENV_JOB_IMAGE=tmpnet/runner:latest "$test_bin" >"$work/killed.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 1 300); do
        grep -q "^running [0-9]* tests" "$work/killed.log" && break
        sleep 0.1
    done
    kill -KILL "$run_pid"
    wait "$run_pid" 2>/dev/null || true
    "$tmpnetctl" runner list | grep -q "running$" \
        || { echo "error: the Job of the killed run is not there to be reaped" >&2; exit 1; }
    ENV_JOB_IMAGE=tmpnet/runner:latest cargo test --locked -p e2e-suite settings:: >"$work/after-kill.log" 2>&1 \
        || { cat "$work/after-kill.log" >&2; exit 1; }
    grep -q "stopped nodes left running by an earlier, killed run" "$work/after-kill.log" \
        || { cat "$work/after-kill.log" >&2; echo "error: the next run did not reap the killed one" >&2; exit 1; }
    check_empty

    echo "== an image that does not exist fails fast, naming it"
    started=$(date +%s)
    ENV_JOB_IMAGE=tmpnet/no-such-image:1 must_fail noimage "^error: runner Job .*tmpnet/no-such-image:1" \
        cargo test --locked -p e2e-suite
    elapsed=$(( $(date +%s) - started ))
    [ "$elapsed" -lt 60 ] || { echo "error: the missing image took ${elapsed}s to be reported" >&2; exit 1; }
    check_empty

    echo "== a ServiceAccount that does not exist is refused before any Job"
    ENV_JOB_IMAGE=tmpnet/runner:latest TMPNET_RUNNER_SERVICE_ACCOUNT=nobody \
        must_fail noaccount '^error: .*ServiceAccount "nobody" does not exist' cargo test --locked -p e2e-suite
    check_empty

    echo "== a runner killed by its deadline fails with the reason"
    ENV_JOB_IMAGE=tmpnet/runner:latest TMPNET_RUNNER_DEADLINE=3s \
        must_fail deadline '^error: runner Job .*DeadlineExceeded' cargo test --locked -p e2e-suite
    check_empty

    echo "== a detached Job deleted mid-run takes its network with it"
    ENV_JOB_IMAGE=tmpnet/runner:latest DETACH_RUNNER=true \
        cargo test --locked -p e2e-suite >"$work/detached2.log" 2>&1
    job="$(sed -n 's/^runner Job \([^ ]*\) runs .*/\1/p' "$work/detached2.log")"
    [ -n "$job" ] || { cat "$work/detached2.log" >&2; exit 1; }
    "$tmpnetctl" runner delete "$job"
    check_empty
    if "$tmpnetctl" runner wait "$job" 2>"$work/wait.log"; then
        echo "error: waiting for a deleted Job succeeded" >&2
        exit 1
    fi
    [ "$(wc -l <"$work/wait.log")" = 1 ] && grep -q "no such Job" "$work/wait.log" \
        || { cat "$work/wait.log" >&2; echo "error: not one line naming the problem" >&2; exit 1; }
    unset E2E_USE_KUBERNETES KUBECONFIG TMPNET_ROOT_DIR
fi

echo "== stop the simulator"
kill -TERM "$sim_pid"
wait "$sim_pid"
sim_pid=""
echo "simulated kube e2e: passed"
