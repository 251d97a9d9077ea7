package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// provisionedBy marks the PersistentVolumes this provisioner made, as
// external provisioners do, so it deletes only its own.
const provisionedBy = "pv.kubernetes.io/provisioned-by"

// provisioner gives every pending claim of its StorageClass a hostPath
// PersistentVolume in a directory of its own under base, and deletes the
// directory and the volume once the claim is gone (reclaim policy Delete).
// Directories are world-writable: a hostPath volume takes no fsGroup, and
// node images run as their own non-root user.
type provisioner struct {
	client *kubernetes.Clientset
	name   string
	class  string
	base   string
}

// runProvisioner is the `local-provisioner` component: it polls once a
// second until SIGTERM or SIGINT.
func runProvisioner(args []string) int {
	flags := flag.NewFlagSet("local-provisioner", flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of an identity allowed to manage PersistentVolumes")
	class := flags.String("storage-class", "tmpnet-local", "the StorageClass whose claims this provisioner serves")
	name := flags.String("provisioner-name", "tmpnet.local/hostpath", "the StorageClass's provisioner field")
	base := flags.String("base-dir", "", "directory that holds one directory per volume")
	if err := flags.Parse(args); err != nil {
		return 1
	}
	if *kubeconfig == "" || *base == "" {
		fmt.Fprintln(os.Stderr, "local-provisioner: --kubeconfig and --base-dir are required")
		return 1
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "local-provisioner: %v\n", err)
		return 1
	}
	p := provisioner{client: kubernetes.NewForConfigOrDie(config), name: *name, class: *class, base: *base}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for ctx.Err() == nil {
		if err := p.round(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "provisioning round failed; retrying")
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return 0
}

func (p provisioner) round(ctx context.Context) error {
	claims, err := p.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		claim := &claims.Items[i]
		if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != p.class ||
			claim.Spec.VolumeName != "" || claim.Status.Phase != corev1.ClaimPending || claim.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, claim); err != nil {
			return err
		}
	}
	volumes, err := p.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range volumes.Items {
		volume := &volumes.Items[i]
		if volume.Annotations[provisionedBy] != p.name || volume.Spec.HostPath == nil ||
			(volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed) {
			continue
		}
		if err := os.RemoveAll(volume.Spec.HostPath.Path); err != nil {
			return err
		}
		err := p.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		klog.InfoS("deleted volume", "volume", volume.Name)
	}
	return nil
}

func (p provisioner) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	name := "pvc-" + string(claim.UID)
	dir := filepath.Join(p.base, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	hostPathType := corev1.HostPathDirectory
	volume := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{provisionedBy: p.name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.class,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:      "PersistentVolumeClaim",
				Namespace: claim.Namespace,
				Name:      claim.Name,
				UID:       claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
		},
	}
	_, err := p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		klog.InfoS("provisioned volume", "volume", name, "claim", claim.Namespace+"/"+claim.Name)
	}
	return err
}
