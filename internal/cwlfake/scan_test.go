package cwlfake

import (
	"encoding/json"
	"testing"
)

func TestParsePut(t *testing.T) {
	tests := map[string]struct {
		body string
		ok   bool
		msgs []string
	}{
		"canonical":         {`{"logEvents":[{"message":"a\"b\\c\u00e9\ud83c\udf89\n","timestamp":5}],"logGroupName":"g","logStreamName":"s"}`, true, []string{"a\"b\\cé🎉\n"}},
		"whitespace, order": {" {\n \"logGroupName\" : \"g\" , \"logEvents\" : [ { \"timestamp\" : -1 , \"message\" : \"x\" } , {\"message\":\"y\",\"timestamp\":2} ] ,\"logStreamName\":\"s\", \"sequenceToken\": \"t\", \"entity\": {\"a\": [1, 2.5e3, true, null]}} ", true, []string{"x", "y"}},
		"unknown field":     {`{"logEvents":[],"logGroupName":"g","logStreamName":"s","x":1}`, false, nil},
		"unknown in event":  {`{"logEvents":[{"message":"a","timestamp":1,"z":2}],"logGroupName":"g","logStreamName":"s"}`, false, nil},
		"trailing data":     {`{"logEvents":[],"logGroupName":"g","logStreamName":"s"}x`, false, nil},
		"lone surrogate":    {`{"logEvents":[{"message":"\ud83c","timestamp":1}],"logGroupName":"g","logStreamName":"s"}`, false, nil},
		"raw control":       {"{\"logEvents\":[{\"message\":\"a\x01\",\"timestamp\":1}],\"logGroupName\":\"g\",\"logStreamName\":\"s\"}", false, nil},
		"float timestamp":   {`{"logEvents":[{"message":"a","timestamp":1.5}],"logGroupName":"g","logStreamName":"s"}`, false, nil},
		"missing message":   {`{"logEvents":[{"timestamp":1}],"logGroupName":"g","logStreamName":"s"}`, false, nil},
		"unterminated":      {`{"logEvents":[{"message":"a`, false, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in, err := parsePut([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if len(in.msgs) != len(tc.msgs) || in.group != "g" || in.stream != "s" {
				t.Fatalf("parsed %+v", in)
			}
			for i := range tc.msgs {
				if in.msgs[i] != tc.msgs[i] {
					t.Fatalf("message %d %q, want %q", i, in.msgs[i], tc.msgs[i])
				}
			}
		})
	}
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"abc", "é\n\"\\", "🎉\u2028\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, _ := json.Marshal(s)
		// encoding/json escapes <, >, & and invalid UTF-8 differently; decoding must agree with it.
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if err := checkJSONString(b); err != nil {
			t.Fatalf("checkJSONString(%s): %v", b, err)
		}
		if got := unescape(b[1 : len(b)-1]); got != want {
			t.Fatalf("unescape(%s) = %q, want %q", b, got, want)
		}
	})
}
