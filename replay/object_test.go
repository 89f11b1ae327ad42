package replay

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dry-run prints one JSON line per object; the README and `logrouter help replay` promise each line says
// whether the object is out of CloudWatch's window, so the field is there when false too.
func TestObjectJSONAlwaysSaysWhetherOutOfCloudWatchWindow(t *testing.T) {
	for _, tooOld := range []bool{false, true} {
		b, err := json.Marshal(Object{Key: "c/t/a/p/f.log.gz", Size: 3, LastModified: time.Unix(0, 0).UTC(), TooOld: tooOld})
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		assert.Equal(t, tooOld, m["out_of_cloudwatch_window"], "line %s", b)
	}
}
