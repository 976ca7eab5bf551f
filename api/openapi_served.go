package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// servedOpenAPI is the embedded document as this server serves it: servers
// lists this server (relative) and, when set, http.public_url; the operator
// paths are present only when the admin routes are on, the sandbox paths
// only in sandbox mode. Member order is kept, so Swagger UI lists the
// operations as the document does.
func servedOpenAPI(doc []byte, publicURL string, admin, sandbox bool) ([]byte, error) {
	top, err := members(doc)
	if err != nil {
		return nil, err
	}
	hidden := map[string]bool{"Admin": !admin, "Sandbox": !sandbox}
	for i := range top {
		m := &top[i]
		switch m.key {
		case "servers":
			servers := []map[string]string{{"url": BasePath, "description": "this server"}}
			if publicURL != "" {
				servers = append(servers, map[string]string{"url": strings.TrimSuffix(publicURL, "/") + BasePath,
					"description": "the public URL (http.public_url)"})
			}
			if m.val, err = json.Marshal(servers); err != nil {
				return nil, err
			}
		case "tags":
			var tags []json.RawMessage
			if err := json.Unmarshal(m.val, &tags); err != nil {
				return nil, err
			}
			kept := tags[:0]
			for _, t := range tags {
				var tag struct{ Name string }
				if err := json.Unmarshal(t, &tag); err != nil {
					return nil, err
				}
				if !hidden[tag.Name] {
					kept = append(kept, t)
				}
			}
			if m.val, err = json.Marshal(kept); err != nil {
				return nil, err
			}
		case "paths":
			if m.val, err = filterMembers(m.val, func(k string) bool {
				return !(hidden["Admin"] && strings.HasPrefix(k, "/admin/") || hidden["Sandbox"] && strings.HasPrefix(k, "/sandbox/"))
			}); err != nil {
				return nil, err
			}
		case "components":
			if admin {
				continue
			}
			comps, err := members(m.val)
			if err != nil {
				return nil, err
			}
			for j := range comps {
				if comps[j].key == "securitySchemes" {
					if comps[j].val, err = filterMembers(comps[j].val, func(k string) bool { return k != "adminToken" }); err != nil {
						return nil, err
					}
				}
			}
			m.val = encodeMembers(comps)
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, encodeMembers(top), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// members decodes a JSON object into its members, in order.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("openapi: want an object, got %v (%v)", t, err)
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		out = append(out, member{key: t.(string), val: v})
	}
	return out, nil
}

// filterMembers keeps the members of a JSON object whose key keep accepts.
func filterMembers(raw []byte, keep func(string) bool) ([]byte, error) {
	ms, err := members(raw)
	if err != nil {
		return nil, err
	}
	kept := ms[:0]
	for _, m := range ms {
		if keep(m.key) {
			kept = append(kept, m)
		}
	}
	return encodeMembers(kept), nil
}

func encodeMembers(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}
