package incluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// Keys of the report ConfigMap: the latest and the previous report, as
// gzipped JSON in binaryData (read one with
// `kubectl get cm NAME -o jsonpath='{.binaryData.latest\.json\.gz}' | base64 -d | gunzip`).
// Reports stored uncompressed under the old keys (latest.json,
// previous.json in data) are still read, and replaced on the next store.
const (
	KeyLatest         = "latest.json.gz"
	KeyPrevious       = "previous.json.gz"
	legacyKeyLatest   = "latest.json"
	legacyKeyPrevious = "previous.json"
)

// MaxStored bounds what the ConfigMap holds (the API server refuses one of
// over 1 MiB), leaving room for its metadata.
const MaxStored = 900 << 10

// Stored says how a report was stored: Note is empty when the latest and
// the previous report both fit whole.
type Stored struct {
	Previous *model.Report
	Note     string
}

// StoreReport writes r, compressed, as the latest report of the ConfigMap
// ns/name and keeps the one it replaces as previous, which it returns (nil
// the first time, or when the stored one cannot be read as a report). When
// both do not fit in MaxStored the previous one is dropped; when r alone
// does not fit, its summary (every result without evidence, no matrices nor
// workload paths) is stored instead. Either is said in the Note and in the
// stored report, never an error.
func StoreReport(ctx context.Context, cs kubernetes.Interface, ns, name string, r *model.Report) (Stored, error) {
	var out Stored
	latest, err := gz(r)
	if err != nil {
		return out, err
	}
	if len(latest) > MaxStored {
		out.Note = fmt.Sprintf("the report takes %d KiB compressed, over the %d KiB a ConfigMap may hold: stored without evidence, matrices or workload paths", len(latest)>>10, MaxStored>>10)
		if latest, err = gz(Summary(r, out.Note)); err != nil {
			return out, err
		}
		if len(latest) > MaxStored {
			return out, fmt.Errorf("store the report in configmap %s/%s: even its summary takes %d KiB compressed", ns, name, len(latest)>>10)
		}
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, BinaryData: map[string][]byte{KeyLatest: latest}}
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		return out, wrap(err, ns, name)
	}
	if err != nil {
		return out, wrap(err, ns, name)
	}
	old, oldRaw := storedLatest(cm)
	out.Previous = old
	delete(cm.Data, legacyKeyLatest)
	delete(cm.Data, legacyKeyPrevious)
	if cm.BinaryData == nil {
		cm.BinaryData = map[string][]byte{}
	}
	cm.BinaryData[KeyLatest] = latest
	delete(cm.BinaryData, KeyPrevious)
	switch {
	case oldRaw == nil:
	case len(latest)+len(oldRaw) <= MaxStored:
		cm.BinaryData[KeyPrevious] = oldRaw
	default:
		note := "the previous report was dropped: with the latest it would pass what a ConfigMap may hold"
		if out.Note != "" {
			note = out.Note + "; " + note
		}
		out.Note = note
	}
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	return out, wrap(err, ns, name)
}

// LoadReports reads the latest and previous reports of a report ConfigMap
// (nil where there is none or it cannot be read as a report).
func LoadReports(cm *corev1.ConfigMap) (latest, previous *model.Report) {
	latest, _ = storedLatest(cm)
	if b, ok := cm.BinaryData[KeyPrevious]; ok {
		previous, _ = gunzip(b)
	} else if s, ok := cm.Data[legacyKeyPrevious]; ok {
		previous, _ = model.DecodeReport(bytes.NewReader([]byte(s)))
	}
	return latest, previous
}

// storedLatest is the ConfigMap's latest report and its compressed form
// (re-compressed from the legacy key); nils when it has none readable.
func storedLatest(cm *corev1.ConfigMap) (*model.Report, []byte) {
	if b, ok := cm.BinaryData[KeyLatest]; ok {
		if r, err := gunzip(b); err == nil {
			return r, b
		}
		return nil, nil
	}
	if s, ok := cm.Data[legacyKeyLatest]; ok {
		r, err := model.DecodeReport(bytes.NewReader([]byte(s)))
		if err != nil {
			return nil, nil
		}
		b, err := gz(r)
		if err != nil {
			return nil, nil
		}
		return r, b
	}
	return nil, nil
}

// Summary is r without what makes it large: every result keeps its verdict
// and reason, loses its evidence; matrices and workload paths go. note says
// so in the metadata.
func Summary(r *model.Report, note string) *model.Report {
	s := *r
	s.Results = make([]model.Result, len(r.Results))
	for i, res := range r.Results {
		res.Evidence = nil
		s.Results[i] = res
	}
	s.Matrices, s.WorkloadPaths = nil, nil
	s.Metadata.StorageNote = note
	return &s
}

func gz(r *model.Report) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzip(b []byte) (*model.Report, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, err
	}
	return model.DecodeReport(bytes.NewReader(data))
}

func wrap(err error, ns, name string) error {
	if err != nil {
		return fmt.Errorf("store the report in configmap %s/%s: %w", ns, name, err)
	}
	return nil
}
