package engine

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ObjectKey is a central-bucket object key in the layout Vector writes:
//
//	{cluster_id}/{tenant_id}/{application}/{pod_name}/{file}
//
// The tenant is the Kubernetes namespace. This is the single definition of the layout: the Vector sink's
// key prefix (VectorKeyPrefix) and the S3 destination path (DestinationKey) are derived from it.
type ObjectKey struct {
	ClusterID   string
	TenantID    string
	Application string
	PodName     string
	File        string
}

// KeySegments names the key's segments in order.
var KeySegments = [...]string{"cluster_id", "tenant_id", "application", "pod_name", "file"}

// VectorKeyPrefix is the aws_s3 sink's key_prefix that produces this layout; Vector appends the file name.
// The tenant segment is Vector's `namespace` field.
const VectorKeyPrefix = "{{ cluster_id }}/{{ namespace }}/{{ application }}/{{ pod_name }}/"

// ErrKeyLayout is wrapped by every error ParseObjectKey returns.
var ErrKeyLayout = errors.New("object key outside the layout {cluster_id}/{tenant_id}/{application}/{pod_name}/{file}")

// maxKeyBytes is S3's limit on a key's length.
const maxKeyBytes = 1024

// ParseObjectKey splits an (already URL-decoded) key into its segments and validates each: present,
// non-empty, not "." or "..", valid UTF-8, and free of control characters.
func ParseObjectKey(key string) (ObjectKey, error) {
	if len(key) > maxKeyBytes {
		return ObjectKey{}, fmt.Errorf("%w: key is %d bytes, over S3's %d", ErrKeyLayout, len(key), maxKeyBytes)
	}
	parts := strings.Split(key, "/")
	if len(parts) != len(KeySegments) {
		return ObjectKey{}, fmt.Errorf("%w: %q has %d segments, want %d", ErrKeyLayout, key, len(parts), len(KeySegments))
	}
	for i, p := range parts {
		if err := validSegment(p); err != nil {
			return ObjectKey{}, fmt.Errorf("%w: %s segment of %q %v", ErrKeyLayout, KeySegments[i], key, err)
		}
	}
	return ObjectKey{ClusterID: parts[0], TenantID: parts[1], Application: parts[2], PodName: parts[3], File: parts[4]}, nil
}

func validSegment(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case s == "." || s == "..":
		return fmt.Errorf("is %q", s)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("has the non-printable character %U", r)
		}
	}
	return nil
}

// String renders the key in the central bucket's layout.
func (k ObjectKey) String() string {
	return k.ClusterID + "/" + k.TenantID + "/" + k.Application + "/" + k.PodName + "/" + k.File
}

// DestinationKey is where an S3 destination receives the object:
// {bucket_prefix}{tenant_id}/{cluster_id}/{application}/{pod_name}/{file}. prefix is used as given
// (the tenant package normalises it to end in "/").
func (k ObjectKey) DestinationKey(prefix string) string {
	return prefix + k.TenantID + "/" + k.ClusterID + "/" + k.Application + "/" + k.PodName + "/" + k.File
}
