package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"

	"github.com/logrouter/logrouter/api"
)

// maxConfigInput bounds a JSON document read from a file or stdin (the server accepts 64 KiB).
const maxConfigInput = 1 << 20

// configsVerb is one verb of `logrouter configs`. Verbs register themselves with registerConfigsVerb, from
// any file; run checks the verb name and its number of arguments (verb.MinArgs/MaxArgs) before Run.
type configsVerb struct {
	verb
	// Run does the verb; a non-empty result is printed as indented JSON on stdout.
	Run func(ctx context.Context, call *configsCall) ([]byte, error)
	// Flags, when set, declares flags of the verb on the configs command (names unique across verbs).
	Flags func(fs *flagSet)
	// Print, when set, prints Run's result instead of indented JSON (e.g. as a table) and may turn it into
	// an exit status (a failed validation).
	Print func(w io.Writer, out []byte) error
}

// configsCall is what a configs verb works with.
type configsCall struct {
	client   *api.Client
	sio      stdio
	args     []string // the verb's arguments
	pageSize int
}

var configsVerbs = map[string]*configsVerb{}

func registerConfigsVerb(v *configsVerb) {
	if _, dup := configsVerbs[v.Name]; dup {
		panic("duplicate configs verb " + v.Name)
	}
	configsVerbs[v.Name] = v
}

// configsVerbOrder lists the CRUD verbs first, in their usual order, then the others alphabetically.
var configsVerbOrder = map[string]int{"list": 1, "get": 2, "create": 3, "update": 4, "patch": 5, "delete": 6}

func configsVerbList() []verb {
	out := make([]verb, 0, len(configsVerbs))
	for _, v := range configsVerbs {
		out = append(out, v.verb)
	}
	sort.Slice(out, func(i, j int) bool {
		oi, oj := configsVerbOrder[out[i].Name], configsVerbOrder[out[j].Name]
		if oi == 0 {
			oi = 100
		}
		if oj == 0 {
			oj = 100
		}
		if oi != oj {
			return oi < oj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func init() {
	register(&command{
		Name:    "configs",
		Summary: "manage delivery configurations through the API; validate them, read their status, usage and history, run replays",
		Args:    "VERB [ARGS]",
		Verbs:   configsVerbList,
		Doc: `TYPE is cloudwatch or s3; FILE is a JSON document (stdin when FILE is absent or -). Requests are signed
with --api-key-id and the secret from --api-secret-file (a file holding only the secret) or --api-secret.
Requests are signed with signing version 2, a new request id each. Documents are checked before sending: a
key that is not exactly a documented field name (names are case-sensitive) is an error naming it.
Responses are printed as JSON on stdout (status, usage and validate print a table or checklist; --json: the
API's JSON; validate exits 1 when a step fails); an error exits non-zero with the server's message. Flags may follow
the arguments (configs list --page-size 10).`,
		Setup: func(fs *flagSet) runFunc {
			var client apiClientFlags
			var pageSize int
			client.register(fs)
			fs.Int(&pageSize, "page-size", "LOGROUTER_API_PAGE_SIZE", 100, "page size for list (1-1000)")
			for _, v := range configsVerbList() {
				if f := configsVerbs[v.Name].Flags; f != nil {
					f(fs)
				}
			}
			return func(ctx context.Context, sio stdio, args []string) error {
				v := configsVerbs[args[0]] // the verb was checked against configsVerbList
				c, err := client.client()
				if err != nil {
					return err
				}
				out, err := v.Run(ctx, &configsCall{client: c, sio: sio, args: args[1:], pageSize: pageSize})
				if err != nil {
					return client.explain(err)
				}
				if v.Print != nil {
					return v.Print(sio.Stdout, out)
				}
				return printJSON(sio.Stdout, out)
			}
		},
	})

	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "list", Args: "[TENANT_ID]", Summary: "all tenants' configurations (every page), or one tenant's", MaxArgs: 1},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			if len(call.args) == 1 {
				return call.client.Do(ctx, http.MethodGet, api.TenantPath(call.args[0]), nil, nil)
			}
			if call.pageSize < 1 || call.pageSize > 1000 {
				return nil, usagef("--page-size (LOGROUTER_API_PAGE_SIZE) must be between 1 and 1000, got %d", call.pageSize)
			}
			all := api.ConfigList{Items: []api.ConfigView{}}
			next := ""
			for {
				page, err := call.client.List(ctx, call.pageSize, next)
				if err != nil {
					return nil, err
				}
				all.Items = append(all.Items, page.Items...)
				all.Warnings = append(all.Warnings, page.Warnings...)
				if page.Next == "" {
					return json.Marshal(all)
				}
				next = page.Next
			}
		},
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "get", Args: "TENANT_ID TYPE", Summary: "one configuration", MinArgs: 2, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			return call.client.Do(ctx, http.MethodGet, api.ConfigPath(call.args[0], call.args[1]), nil, nil)
		},
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "create", Args: "TENANT_ID [FILE]", Summary: "create a configuration from a JSON document", MinArgs: 1, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			doc, err := readDocument(call.sio.Stdin, call.args[1:], "create-delivery-config")
			if err != nil {
				return nil, err
			}
			return call.client.Do(ctx, http.MethodPost, api.TenantPath(call.args[0]), nil, doc)
		},
	})
	for _, m := range []struct{ name, method, summary, operationID string }{
		{"update", http.MethodPut, "replace a configuration (PUT)", "replace-delivery-config"},
		{"patch", http.MethodPatch, "change the given fields (PATCH; null removes a field); the result is validated whole", "patch-delivery-config"},
	} {
		registerConfigsVerb(&configsVerb{
			verb: verb{Name: m.name, Args: "TENANT_ID TYPE [FILE]", Summary: m.summary, MinArgs: 2, MaxArgs: 3},
			Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
				doc, err := readDocument(call.sio.Stdin, call.args[2:], m.operationID)
				if err != nil {
					return nil, err
				}
				return call.client.Do(ctx, m.method, api.ConfigPath(call.args[0], call.args[1]), nil, doc)
			},
		})
	}
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "delete", Args: "TENANT_ID TYPE", Summary: "delete a configuration (prints what it deleted)", MinArgs: 2, MaxArgs: 2},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			if _, err := call.client.Do(ctx, http.MethodDelete, api.ConfigPath(call.args[0], call.args[1]), nil, nil); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"deleted": map[string]string{"tenant_id": call.args[0], "type": call.args[1]}})
		},
	})
	registerConfigsVerb(&configsVerb{
		verb: verb{Name: "openapi", Summary: "print the API's OpenAPI document as served (logrouter api openapi needs no server)"},
		Run: func(ctx context.Context, call *configsCall) ([]byte, error) {
			return call.client.Do(ctx, http.MethodGet, api.OpenAPIPath, nil, nil)
		},
	})
}

// printJSON writes out indented, with a final newline; nothing when out is empty.
func printJSON(w io.Writer, out []byte) error {
	if len(out) == 0 {
		return nil
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	if !bytes.HasSuffix(pretty.Bytes(), []byte("\n")) {
		pretty.WriteByte('\n')
	}
	_, err := w.Write(pretty.Bytes())
	return err
}

// readDocument reads the JSON document named by args[0] (stdin when absent or -) for the API operation
// operationID. A syntax error names the line and column; a key that is not exactly a documented field name
// (the server's strict-key check, api.CheckRequestBody) is named too.
func readDocument(stdin io.Reader, args []string, operationID string) ([]byte, error) {
	var r io.Reader = stdin
	name := "stdin"
	if len(args) > 0 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, args[0]
	}
	if r == nil {
		return nil, fmt.Errorf("no JSON document: give a FILE or pipe one on stdin")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxConfigInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxConfigInput {
		return nil, fmt.Errorf("%s: document larger than %d bytes", name, maxConfigInput)
	}
	if err := checkJSON(b); err != nil {
		return nil, fmt.Errorf("%s:%w", name, err)
	}
	if err := api.CheckRequestBody(operationID, b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// checkJSON returns nil for one valid JSON value, else an error starting with "LINE:COLUMN: ".
func checkJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("1:1: empty, not a JSON document")
	}
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineColumn(b, se.Offset)
		return fmt.Errorf("%d:%d: not valid JSON: %v", line, col, se)
	}
	return err
}

// lineColumn converts the byte offset at which encoding/json stopped (just past the offending byte, or
// len(b) at an unexpected end) into a 1-based line and column.
func lineColumn(b []byte, offset int64) (int, int) {
	end := int(min(max(offset, 1), int64(len(b))))
	before := b[:end-1]
	line := bytes.Count(before, []byte("\n")) + 1
	col := end - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}
