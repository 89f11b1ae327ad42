package engine_test

import (
	"fmt"

	"github.com/logrouter/logrouter/engine"
)

func ExampleParseNotification() {
	body := `{"Type":"Notification","Message":"{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\",` +
		`\"s3\":{\"bucket\":{\"name\":\"central\"},\"object\":{\"key\":\"c1/acme/kube-apiserver/kas-0/10%3A00+UTC.json.gz\"}}}]}"}`
	n, err := engine.ParseNotification([]byte(body))
	if err != nil {
		panic(err)
	}
	key, err := engine.ParseObjectKey(n.Objects[0].Key)
	if err != nil {
		panic(err)
	}
	fmt.Println(n.Objects[0].Bucket, key.TenantID, key.Application, key.File)
	// Output: central acme kube-apiserver 10:00 UTC.json.gz
}
