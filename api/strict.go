package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/logrouter/logrouter/tenant"
)

// Strict keys. Go's encoding/json (and huma's decoding and validation with it) match object keys to fields
// case-insensitively, so {"Bucket_Name": ...} would set bucket_name. Before any decoding, every request body
// is walked against its operation's documented schema: an object key that is not exactly a documented
// property (or a key given twice) is a 400 naming it.

// keyError is one offending key.
type keyError struct {
	Location string // "body.Bucket_Name", "body.items[0].x"
	Message  string
}

// checkKeys walks the JSON document body against schema and returns the keys that are not exactly documented
// properties, or given twice. A body that is not JSON yields no key errors (decoding reports it).
func checkKeys(reg huma.Registry, schema *huma.Schema, body []byte) []keyError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var errs []keyError
	if walkKeys(dec, reg, schema, "body", &errs) != nil {
		return nil
	}
	return errs
}

// walkKeys consumes one JSON value from dec, checking it against schema (nil: anything goes).
func walkKeys(dec *json.Decoder, reg huma.Registry, schema *huma.Schema, path string, errs *[]keyError) error {
	for schema != nil && schema.Ref != "" {
		schema = reg.SchemaFromRef(schema.Ref)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			loc := path + "." + k
			var sub *huma.Schema
			switch {
			case seen[k]:
				*errs = append(*errs, keyError{loc, "given twice"})
			case schema == nil || schema.Properties == nil:
				if schema != nil {
					sub, _ = schema.AdditionalProperties.(*huma.Schema)
				}
			case schema.Properties[k] != nil:
				sub = schema.Properties[k]
			case schema.AdditionalProperties == true:
			default:
				if ap, ok := schema.AdditionalProperties.(*huma.Schema); ok {
					sub = ap
					break
				}
				*errs = append(*errs, keyError{loc, unknownKeyMessage(k, schema)})
			}
			seen[k] = true
			if err := walkKeys(dec, reg, sub, loc, errs); err != nil {
				return err
			}
		}
	case '[':
		var items *huma.Schema
		if schema != nil {
			items = schema.Items
		}
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, reg, items, path+"["+strconv.Itoa(i)+"]", errs); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func unknownKeyMessage(k string, schema *huma.Schema) string {
	for name := range schema.Properties {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf("unknown field (field names are case-sensitive: did you mean %s?)", name)
		}
	}
	return "unknown field"
}

// strictKeys is the huma middleware that refuses request bodies with undocumented keys (see checkKeys).
func (s *Server) strictKeys(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	info := infoFrom(ctx.Context())
	if op.RequestBody == nil || info == nil || len(info.body) == 0 {
		next(ctx)
		return
	}
	mt := op.RequestBody.Content["application/json"]
	if mt == nil || mt.Schema == nil {
		next(ctx)
		return
	}
	if errs := checkKeys(s.api.OpenAPI().Components.Schemas, mt.Schema, info.body); len(errs) > 0 {
		details := make([]error, len(errs))
		for i, e := range errs {
			details[i] = &huma.ErrorDetail{Location: e.Location, Message: e.Message}
		}
		_ = huma.WriteErr(s.api, ctx, http.StatusBadRequest, "validation failed", details...)
		return
	}
	next(ctx)
}

var (
	localSpecOnce sync.Once
	localSpec     *Server
	localSpecErr  error
)

// localServer is a server without a store, for its OpenAPI document (OpenAPIDocument, CheckRequestBody).
func localServer() (*Server, error) {
	localSpecOnce.Do(func() {
		localSpec, localSpecErr = New(tenant.NewStore(nil, "unused"), Keys{"local": []byte("local-document-only-0123")},
			Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	})
	return localSpec, localSpecErr
}

// OpenAPIDocument returns the API's OpenAPI document (the one served at OpenAPIPath) without a running
// server.
func OpenAPIDocument() ([]byte, error) {
	s, err := localServer()
	if err != nil {
		return nil, err
	}
	return json.Marshal(s.OpenAPI())
}

// ErrUnknownOperation: CheckRequestBody was given an operation id the API does not have.
var ErrUnknownOperation = errors.New("no such operation")

// CheckRequestBody applies the server's strict-key check to body as the request body of operationID (e.g.
// "create-delivery-config"), for clients that check before sending. The error names every offending key.
func CheckRequestBody(operationID string, body []byte) error {
	s, err := localServer()
	if err != nil {
		return err
	}
	for _, item := range s.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil || op.OperationID != operationID {
				continue
			}
			if op.RequestBody == nil || op.RequestBody.Content["application/json"] == nil {
				return nil
			}
			errs := checkKeys(s.OpenAPI().Components.Schemas, op.RequestBody.Content["application/json"].Schema, body)
			if len(errs) == 0 {
				return nil
			}
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Location + ": " + e.Message
			}
			return fmt.Errorf("invalid document:\n  %s", strings.Join(msgs, "\n  "))
		}
	}
	return fmt.Errorf("%w: %s", ErrUnknownOperation, operationID)
}
