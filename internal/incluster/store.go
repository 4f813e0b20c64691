package incluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Keys of the report ConfigMap.
const (
	KeyLatest   = "latest.json"
	KeyPrevious = "previous.json"
)

// StoreReport writes r as the latest report of the ConfigMap ns/name and
// keeps the one it replaces as previous, which it returns (nil the first
// time, or when the stored one cannot be read as a report).
func StoreReport(ctx context.Context, cs kubernetes.Interface, ns, name string, r *model.Report) (*model.Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{KeyLatest: string(b)}}
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		return nil, wrap(err, ns, name)
	}
	if err != nil {
		return nil, wrap(err, ns, name)
	}
	var previous *model.Report
	if old, ok := cm.Data[KeyLatest]; ok {
		if p, err := model.DecodeReport(bytes.NewReader([]byte(old))); err == nil {
			previous = p
		}
		cm.Data[KeyPrevious] = old
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[KeyLatest] = string(b)
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	return previous, wrap(err, ns, name)
}

func wrap(err error, ns, name string) error {
	if err != nil {
		return fmt.Errorf("store the report in configmap %s/%s: %w", ns, name, err)
	}
	return nil
}
