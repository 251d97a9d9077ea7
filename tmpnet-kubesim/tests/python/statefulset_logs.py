"""The official Python Kubernetes client against the simulator: create a
StatefulSet, wait until its pod is ready, read the pod's logs, clean up.
Usage: statefulset_logs.py KUBECONFIG. Prints OK on success."""
import sys
import time

from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
apps, core = client.AppsV1Api(), client.CoreV1Api()
ns = "default"
sts = client.V1StatefulSet(
    metadata=client.V1ObjectMeta(name="py"),
    spec=client.V1StatefulSetSpec(
        service_name="py",
        replicas=1,
        selector=client.V1LabelSelector(match_labels={"app": "py"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(
                name="main",
                image="busybox",
                command=["sh", "-c", "echo hello from $HOSTNAME; sleep 60"],
            )]),
        ),
    ),
)
apps.create_namespaced_stateful_set(ns, sts)
deadline = time.time() + 30
while True:
    status = apps.read_namespaced_stateful_set("py", ns).status
    if status and status.ready_replicas == 1:
        break
    if time.time() > deadline:
        sys.exit("the StatefulSet never became ready")
    time.sleep(0.05)
pods = core.list_namespaced_pod(ns, label_selector="app=py").items
assert [p.metadata.name for p in pods] == ["py-0"], pods
deadline = time.time() + 10
while True:
    log = core.read_namespaced_pod_log("py-0", ns)
    if log.strip() == "hello from py-0":
        break
    if time.time() > deadline:
        sys.exit(f"unexpected log: {log!r}")
    time.sleep(0.05)
apps.delete_namespaced_stateful_set("py", ns)
print("OK")
