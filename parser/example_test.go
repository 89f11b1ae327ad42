package parser_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logrouter/logrouter/parser"
)

func ExampleReader() {
	object := strings.NewReader(
		`{"application":"kube-apiserver","message":"I0830 10:33:20.564974 17 controller.go:615] quota added","namespace":"ns1","timestamp":"2025-08-30T10:33:21.2Z"}` + "\n" +
			`{"application":"etcd","message":"{\"level\":\"warn\",\"ts\":\"2025-08-30T10:33:15.987Z\",\"msg\":\"slow\"}","timestamp":"2025-08-30T10:33:21.3Z"}` + "\n" +
			`{"application":"router","message":"no timestamp in here","timestamp":"2025-08-30T10:33:21.4Z"}` + "\n" +
			"not JSON at all\n")
	lastModified := time.Date(2025, 8, 30, 10, 40, 0, 0, time.UTC)

	r := parser.NewReader(object, lastModified)
	defer r.Close()
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		msg, _ := ev.AppendMessage(nil)
		fmt.Printf("%s %-15s %-14s %s\n", time.UnixMilli(ev.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z"), ev.Source, ev.Application, msg)
	}
	st := r.Stats()
	fmt.Printf("lines=%d events=%d malformed=%d\n", st.Lines, st.Events, st.MalformedLines)
	// Output:
	// 2025-08-30T10:33:20.564Z message_klog    kube-apiserver I0830 10:33:20.564974 17 controller.go:615] quota added
	// 2025-08-30T10:33:15.987Z message_json    etcd           {"level":"warn","ts":"2025-08-30T10:33:15.987Z","msg":"slow"}
	// 2025-08-30T10:33:21.400Z vector          router         no timestamp in here
	// 2025-08-30T10:40:00.000Z fallback                       not JSON at all
	// lines=4 events=4 malformed=1
}

// Escaped messages can be copied into a JSON document without unescaping and escaping them again.
func ExampleEvent_AppendMessage() {
	r := parser.NewReader(strings.NewReader(`{"message":"say \"hi\"\tthere"}`), time.Unix(0, 0))
	ev, _ := r.Next()
	fmt.Printf("escaped=%v body=%s\n", ev.Escaped, ev.Message)
	text, _ := ev.AppendMessage(nil)
	fmt.Printf("text=%q\n", text)
	doc := append(append([]byte(`{"message":"`), ev.Message...), `"}`...)
	fmt.Println(string(doc))
	// Output:
	// escaped=true body=say \"hi\"\tthere
	// text="say \"hi\"\tthere"
	// {"message":"say \"hi\"\tthere"}
}
