# shellcheck shell=bash
# The remote runner's end-to-end cases, run the same on every cluster tier
# (scripts/e2e-kubesim.sh on the simulator, scripts/e2e-cluster.sh on the
# local cluster). Sourced, not run. The caller provides:
#   $work                 a scratch directory (logs go there)
#   $tmpnetctl            the tmpnetctl binary
#   api_get PATH          prints the JSON of an API path, read as the admin
#   check_empty           fails unless the namespace holds nothing of tmpnet
#   secret_scan           directories besides $work to search for a leaked secret
#   diagnose              (optional) prints the cluster's state when a case hangs
# and exports E2E_USE_KUBERNETES, KUBECONFIG (the tmpnet ServiceAccount),
# TMPNET_ROOT_DIR. The images come from scripts/build-images.sh.
: "${work:?is set by the sourcing script}"

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

# Starts the suite's test binary in the background as a relaunch, its
# output in $work/<log>.log, and waits until the Job's tests run; sets
# run_pid.
start_running() {
    local log="$work/$1.log" test_bin
    local bins=(target/images/runner/bin/e2e-*)
    [ -e "${bins[0]}" ] || { echo "error: no e2e-* test binary in target/images/runner/bin" >&2; exit 1; }
    test_bin="target/debug/deps/${bins[0]##*/}"
    ENV_JOB_IMAGE=tmpnet/runner:latest "$test_bin" >"$log" 2>&1 &
    run_pid=$!
    for _ in $(seq 1 600); do
        grep -q "^running [0-9]* tests" "$log" && return 0
        sleep 0.1
    done
    cat "$log" >&2
    if declare -F diagnose >/dev/null; then diagnose >&2; fi
    echo "error: the runner did not start its tests within 60 s" >&2
    exit 1
}

# A detached run's Job name, from its output in $work/<log>.log.
detached_job() {
    local job
    job="$(sed -n 's/^runner Job \([^ ]*\) runs .*/\1/p' "$work/$1.log")"
    [ -n "$job" ] || { cat "$work/$1.log" >&2; echo "error: detached mode printed no Job" >&2; exit 1; }
    echo "$job"
}

runner_cases() {
    local token job rc started elapsed
    : "${tmpnetctl:?is set by the sourcing script}" "${secret_scan?is set by the sourcing script}"
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
        cargo test --locked -p e2e-suite >"$work/detached.log" 2>&1 || { cat "$work/detached.log" >&2; exit 1; }
    job="$(detached_job detached)"
    "$tmpnetctl" runner list | tee "$work/list.log"
    grep -q "^$job .* running$" "$work/list.log" \
        || { echo "error: the detached run returned after its tests ended, not when they started" >&2; exit 1; }
    api_get "/apis/batch/v1/namespaces/tmpnet/jobs/$job" >"$work/job.json"
    if grep -qF "$token" "$work/job.json"; then
        echo "error: the forwarded secret is in the Job's spec" >&2
        exit 1
    fi
    api_get "/api/v1/namespaces/tmpnet/secrets/$job-env" | python3 -c '
import json, sys
secret, job = json.load(sys.stdin), sys.argv[1]
if "E2E_API_TOKEN" not in secret.get("data", {}):
    sys.exit("error: the forwarded variable is not in the Job'"'"'s Secret")
owners = [o["name"] for o in secret["metadata"].get("ownerReferences", [])]
if owners != [job]:
    sys.exit(f"error: the Secret is owned by {owners}, not the Job")
print("the forwarded secret is in a Secret owned by the Job, not in its spec")
' "$job"
    "$tmpnetctl" runner wait "$job"
    "$tmpnetctl" runner logs "$job" >"$work/job.log"
    grep -q "test result: ok" "$work/job.log"
    # shellcheck disable=SC2086 # secret_scan holds directories, one a word
    if grep -rqF "$token" "$work"/*.log "$work/root" $secret_scan; then
        echo "error: the forwarded secret appears in the output" >&2
        exit 1
    fi
    echo "the secret appears in no output (local, runner log, the cluster's logs, network directories)"
    "$tmpnetctl" runner delete "$job"
    check_empty

    echo "== Ctrl-C during a run deletes the Job and the network (and the runner's own networks)"
    start_running interrupted
    kill -INT "$run_pid"
    rc=0
    wait "$run_pid" || rc=$?
    [ "$rc" = 130 ] || { cat "$work/interrupted.log" >&2; echo "error: an interrupted run exited $rc, not 130" >&2; exit 1; }
    echo "interrupted: exit code $rc"
    check_empty

    echo "== kill -9 of the local side: the next run deletes the Job and the network"
    start_running killed
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
    elapsed=$(($(date +%s) - started))
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
        cargo test --locked -p e2e-suite >"$work/detached2.log" 2>&1 || { cat "$work/detached2.log" >&2; exit 1; }
    job="$(detached_job detached2)"
    "$tmpnetctl" runner delete "$job"
    check_empty
    if "$tmpnetctl" runner wait "$job" 2>"$work/wait.log"; then
        echo "error: waiting for a deleted Job succeeded" >&2
        exit 1
    fi
    if [ "$(wc -l <"$work/wait.log")" != 1 ] || ! grep -q "no such Job" "$work/wait.log"; then
        cat "$work/wait.log" >&2
        echo "error: not one line naming the problem" >&2
        exit 1
    fi
}
