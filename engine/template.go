package engine

import (
	"fmt"
	"strings"
)

// streamTemplate renders CloudWatch log stream names from an object key.
type streamTemplate struct {
	parts []tplPart
}

type tplPart struct {
	lit   string
	field func(ObjectKey) string
}

var tplFields = map[string]func(ObjectKey) string{
	"cluster_id":  func(k ObjectKey) string { return k.ClusterID },
	"tenant_id":   func(k ObjectKey) string { return k.TenantID },
	"application": func(k ObjectKey) string { return k.Application },
	"pod_name":    func(k ObjectKey) string { return k.PodName },
}

// maxStreamName is CloudWatch's limit on a log stream name.
const maxStreamName = 512

// parseStreamTemplate parses a template such as "{cluster_id}/{application}/{pod_name}".
func parseStreamTemplate(s string) (streamTemplate, error) {
	var t streamTemplate
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return streamTemplate{}, fmt.Errorf("log stream template %q: unclosed {", s)
		}
		name := rest[i+1 : i+j]
		f, ok := tplFields[name]
		if !ok {
			return streamTemplate{}, fmt.Errorf("log stream template %q: unknown placeholder {%s} (want cluster_id, tenant_id, application or pod_name)", s, name)
		}
		t.parts = append(t.parts, tplPart{field: f})
		rest = rest[i+j+1:]
	}
	hasField := false
	for _, p := range t.parts {
		if p.field != nil {
			hasField = true
		}
		if strings.ContainsAny(p.lit, ":*") {
			return streamTemplate{}, fmt.Errorf("log stream template %q: CloudWatch stream names cannot contain ':' or '*'", s)
		}
	}
	if !hasField {
		return streamTemplate{}, fmt.Errorf("log stream template %q has no placeholder", s)
	}
	return t, nil
}

// render returns the stream name for k; characters CloudWatch forbids (':' and '*') become '_' and the
// name is cut to CloudWatch's 512 characters.
func (t streamTemplate) render(k ObjectKey) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field != nil {
			b.WriteString(p.field(k))
		} else {
			b.WriteString(p.lit)
		}
	}
	s := strings.NewReplacer(":", "_", "*", "_").Replace(b.String())
	if r := []rune(s); len(r) > maxStreamName {
		s = string(r[:maxStreamName])
	}
	return s
}
