package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/logrouter/logrouter/api"
	"github.com/logrouter/logrouter/tenant"
)

// maxConfigInput bounds a JSON document read from a file or stdin (the server accepts 64 KiB).
const maxConfigInput = 1 << 20

func init() {
	register(&command{
		Name:    "configs",
		Summary: "manage delivery configurations through the API (list, get, create, update, patch, delete, history)",
		Args:    "VERB [ARGS]",
		Doc: `Verbs:
  list [TENANT_ID]             all tenants' configurations (every page), or one tenant's
  get TENANT_ID TYPE           one configuration (TYPE is cloudwatch or s3)
  create TENANT_ID [FILE]      create from a JSON document (FILE, or stdin when FILE is absent or -)
  update TENANT_ID TYPE [FILE] replace a configuration (PUT)
  patch TENANT_ID TYPE [FILE]  change the given fields (PATCH); the result is validated whole
  delete TENANT_ID TYPE        delete a configuration
  history TENANT_ID TYPE       the configuration's changes, newest first (every page)
  openapi                      print the API's OpenAPI document (as served; "logrouter api openapi" needs no server)

JSON documents are checked before sending: a key that is not exactly a documented field name (they are
case-sensitive) is an error naming it. PATCH: null removes a field so that it takes its default.
Requests are signed (signing version 2, a new request id each) with --api-key-id and the secret from
--api-key or --api-key-file (a file holding only the secret). Responses are printed as JSON on stdout; an
error exits non-zero with the server's message.`,
		Setup: func(fs *flagSet) runFunc {
			var url, keyID, key, keyFile string
			var limit int
			fs.String(&url, "api-url", "LOGROUTER_API_URL", "http://127.0.0.1:8080", "API base URL")
			fs.String(&keyID, "api-key-id", "LOGROUTER_API_KEY_ID", "", "signing key id (required)")
			fs.String(&key, "api-key", "LOGROUTER_API_KEY", "", "signing secret (prefer the environment or --api-key-file)")
			fs.String(&keyFile, "api-key-file", "LOGROUTER_API_KEY_FILE", "", "file holding the signing secret")
			fs.Int(&limit, "page-size", "LOGROUTER_API_PAGE_SIZE", 100, "page size for list (1-1000)")
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) == 0 {
					return usagef("a verb is required: list, get, create, update, patch, delete, history or openapi")
				}
				verb, args := args[0], args[1:]
				if err := checkConfigsArgs(verb, args); err != nil {
					return err
				}
				secret, err := signingSecret(key, keyFile)
				if err != nil {
					return err
				}
				if keyID == "" {
					return usagef("--api-key-id (LOGROUTER_API_KEY_ID) is required")
				}
				client, err := api.NewClient(url, keyID, secret)
				if err != nil {
					return usagef("%v", err)
				}
				out, err := runConfigsVerb(ctx, client, sio.Stdin, verb, args, limit)
				if err != nil {
					return err
				}
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
				_, err = sio.Stdout.Write(pretty.Bytes())
				return err
			}
		},
	})
}

func checkConfigsArgs(verb string, args []string) error {
	n := len(args)
	ok := false
	switch verb {
	case "list":
		ok = n <= 1
	case "get", "delete", "history":
		ok = n == 2
	case "create":
		ok = n == 1 || n == 2
	case "update", "patch":
		ok = n == 2 || n == 3
	case "openapi":
		ok = n == 0
	default:
		return usagef("unknown verb %q: want list, get, create, update, patch, delete, history or openapi", verb)
	}
	if !ok {
		return usagef("wrong number of arguments for %s", verb)
	}
	return nil
}

func signingSecret(key, keyFile string) ([]byte, error) {
	switch {
	case key != "" && keyFile != "":
		return nil, usagef("give either --api-key or --api-key-file, not both")
	case key != "":
		return []byte(key), nil
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("read signing key: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return nil, fmt.Errorf("signing key file %s is empty", keyFile)
		}
		return []byte(s), nil
	}
	return nil, usagef("a signing secret is required: --api-key-file (LOGROUTER_API_KEY_FILE) or LOGROUTER_API_KEY")
}

// readDocument reads a JSON document for operationID and applies the server's strict-key check to it.
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
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s: not a JSON document", name)
	}
	if err := api.CheckRequestBody(operationID, b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

func runConfigsVerb(ctx context.Context, c *api.Client, stdin io.Reader, verb string, args []string, limit int) ([]byte, error) {
	switch verb {
	case "list":
		if len(args) == 1 {
			return c.Do(ctx, http.MethodGet, api.TenantPath(args[0]), nil, nil)
		}
		all := api.ConfigList{Items: []api.ConfigView{}}
		next := ""
		for {
			page, err := c.List(ctx, limit, next)
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
	case "get":
		return c.Do(ctx, http.MethodGet, api.ConfigPath(args[0], args[1]), nil, nil)
	case "delete":
		return c.Do(ctx, http.MethodDelete, api.ConfigPath(args[0], args[1]), nil, nil)
	case "history":
		all := api.HistoryList{Items: []tenant.HistoryEntry{}}
		next := ""
		for {
			page, err := c.History(ctx, args[0], args[1], limit, next)
			if err != nil {
				return nil, err
			}
			all.Items = append(all.Items, page.Items...)
			if page.Next == "" {
				return json.Marshal(all)
			}
			next = page.Next
		}
	case "openapi":
		return c.Do(ctx, http.MethodGet, api.OpenAPIPath, nil, nil)
	case "create":
		doc, err := readDocument(stdin, args[1:], "create-delivery-config")
		if err != nil {
			return nil, err
		}
		return c.Do(ctx, http.MethodPost, api.TenantPath(args[0]), nil, doc)
	case "update", "patch":
		method, op := http.MethodPut, "replace-delivery-config"
		if verb == "patch" {
			method, op = http.MethodPatch, "patch-delivery-config"
		}
		doc, err := readDocument(stdin, args[2:], op)
		if err != nil {
			return nil, err
		}
		return c.Do(ctx, method, api.ConfigPath(args[0], args[1]), nil, doc)
	}
	return nil, usagef("unknown verb %q", verb)
}
