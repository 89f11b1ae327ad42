package engine

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseObjectKey(t *testing.T) {
	tests := map[string]struct {
		key     string
		want    ObjectKey
		wantErr bool
	}{
		"vector file":       {key: "c1/acme/kube-apiserver/kube-apiserver-0/1756549200-1b4e.log.gz", want: ObjectKey{"c1", "acme", "kube-apiserver", "kube-apiserver-0", "1756549200-1b4e.log.gz"}},
		"space and unicode": {key: "c1/acme/my app/pod-é/f 1.gz", want: ObjectKey{"c1", "acme", "my app", "pod-é", "f 1.gz"}},
		"plus kept literal": {key: "c1/acme/app/pod/a+b.gz", want: ObjectKey{"c1", "acme", "app", "pod", "a+b.gz"}},
		"too few segments":  {key: "c1/acme/app/file.gz", wantErr: true},
		"too many segments": {key: "c1/acme/app/pod/extra/file.gz", wantErr: true},
		"empty tenant":      {key: "c1//app/pod/file.gz", wantErr: true},
		"dotdot segment":    {key: "c1/../app/pod/file.gz", wantErr: true},
		"dot segment":       {key: "c1/acme/./pod/file.gz", wantErr: true},
		"trailing slash":    {key: "c1/acme/app/pod/", wantErr: true},
		"control character": {key: "c1/acme/app/po\x01d/file.gz", wantErr: true},
		"invalid utf-8":     {key: "c1/acme/app/pod\xff/file.gz", wantErr: true},
		"quarantine prefix": {key: "quarantine/c1/file.gz", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseObjectKey(tc.key)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrKeyLayout))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.key, got.String())
		})
	}
}

func TestDestinationKey(t *testing.T) {
	k := ObjectKey{"c1", "acme", "app", "pod-0", "f.log.gz"}
	assert.Equal(t, "ROSA/cluster-logs/acme/c1/app/pod-0/f.log.gz", k.DestinationKey("ROSA/cluster-logs/"))
}

func TestParseObjectKeyTooLong(t *testing.T) {
	long := make([]byte, 1100)
	for i := range long {
		long[i] = 'a'
	}
	_, err := ParseObjectKey("c/t/a/p/" + string(long))
	require.ErrorIs(t, err, ErrKeyLayout)
}
