"""What an independent client sees of a StatefulSet's life, as facts that a
real cluster and the simulator must agree on. The official Python client
creates a StatefulSet, lists its pods from the moment the set exists and
reads each one's status as a client does (phase and conditions, which a pod
has from its creation), waits until the set is ready, prints the facts as
JSON (sorted keys, one document) and deletes the set.

Usage: same_view.py KUBECONFIG NAMESPACE IMAGE
IMAGE must have `sleep`."""
import json
import sys
import time

from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
ns, image = sys.argv[2], sys.argv[3]
apps, core = client.AppsV1Api(), client.CoreV1Api()
name = "same-view"
labels = {"app": name}
apps.create_namespaced_stateful_set(ns, client.V1StatefulSet(
    metadata=client.V1ObjectMeta(name=name, labels=labels),
    spec=client.V1StatefulSetSpec(
        service_name=name,
        replicas=1,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=1,
                containers=[client.V1Container(
                    name="main",
                    image=image,
                    image_pull_policy="IfNotPresent",
                    command=["sleep", "300"],
                )],
            ),
        ),
    ),
))
try:
    seen = []
    deadline = time.time() + 90
    while True:
        for pod in core.list_namespaced_pod(ns, label_selector=f"app={name}").items:
            # Read as a client reads it, the moment it is listed.
            status = pod.status
            seen.append(status.phase if status else None)
            [c.type for c in (status.conditions or [])] if status else None
        sts = apps.read_namespaced_stateful_set(name, ns)
        if sts.status and sts.status.ready_replicas == 1:
            break
        if time.time() > deadline:
            sys.exit(f"the StatefulSet was not ready in 90 s; pod phases seen: {sorted(set(map(str, seen)))}")
        time.sleep(0.05)
    pod = core.read_namespaced_pod(f"{name}-0", ns)
    conditions = {c.type: c.status for c in pod.status.conditions}
    main = pod.status.container_statuses[0]
    owner = pod.metadata.owner_references[0]
    facts = {
        "every pod listed had a status with a phase": bool(seen) and None not in seen,
        "phases seen are Pending or Running": set(seen) <= {"Pending", "Running"},
        "pod phase": pod.status.phase,
        "pod qosClass": pod.status.qos_class,
        "pod has an IP": bool(pod.status.pod_ip),
        "pod conditions": {t: conditions.get(t) for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"]},
        "container": {
            "name": main.name,
            "ready": main.ready,
            "running": main.state.running is not None,
            "restartCount": main.restart_count,
        },
        "owner": {"kind": owner.kind, "name": owner.name, "controller": owner.controller},
        "pod-name label": pod.metadata.labels.get("statefulset.kubernetes.io/pod-name"),
        "has a controller-revision-hash label": "controller-revision-hash" in pod.metadata.labels,
        "set status": {"replicas": sts.status.replicas, "readyReplicas": sts.status.ready_replicas},
    }
    print(json.dumps(facts, sort_keys=True))
finally:
    apps.delete_namespaced_stateful_set(name, ns)
