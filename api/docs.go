package api

import (
	"embed"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/theopenmoney/openmoney/shop"
)

// The OpenAPI document and Swagger UI, both served from the binary (the
// service must work offline: no CDN).
//
//   - GET /api/v1/openapi.json: the OpenAPI 3.0 document, as is (not in the
//     envelope: it is a document, and Swagger UI reads it). It is a route of
//     the table in routes.go, so the drift test holds it to itself.
//   - GET /docs/: Swagger UI (swaggerui/: swagger-ui-dist's css, bundle,
//     standalone preset, favicon and LICENSE, plus our index.html and
//     init.js); GET /docs redirects there. Unknown files under /docs/ are
//     404 NOT_FOUND envelopes like any unknown path.
//
// openapi.json is kept by hand beside this file; openapi_test.go loads and
// validates it with kin-openapi, checks it against Routes() both ways and
// validates real responses against it.

//go:embed openapi.json
var openapiJSON []byte

//go:embed swaggerui
var swaggerUI embed.FS

// DocsPath is where Swagger UI is served.
const DocsPath = "/docs/"

// OpenAPI returns the embedded OpenAPI document (a copy).
func OpenAPI() []byte { return append([]byte(nil), openapiJSON...) }

// handleOpenAPI is GET /openapi.json: the document as this server serves
// it (servedOpenAPI).
func (srv *server) handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		writeBody(w, http.StatusOK, srv.openapi)
	})
}

// IndexView is GET /api/v1: where the documentation and the probes are.
type IndexView struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Sandbox bool   `json:"sandbox"`
	Docs    string `json:"docs"`    // Swagger UI
	OpenAPI string `json:"openapi"` // this API's OpenAPI document
	Health  string `json:"health"`
}

// handleIndex is GET /api/v1 (and /api/v1/): links, relative to this host.
func (srv *server) handleIndex() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		return IndexView{Name: "The Open Money partner API", Version: srv.shop.Version(), Sandbox: srv.shop.SandboxMode(),
			Docs: DocsPath, OpenAPI: BasePath + "/openapi.json", Health: BasePath + "/health"}, nil
	})
}

// docTypes are the content types of the files under swaggerui/.
var docTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".png":  "image/png",
	"":      "text/plain; charset=utf-8", // LICENSE
}

// registerDocs adds GET /docs and GET /docs/… to mux, GET / (a redirect to
// the docs) and GET /api/v1 without its slash (the index, like /api/v1/).
func (srv *server) registerDocs(mux *http.ServeMux) {
	mux.Handle("GET "+strings.TrimSuffix(DocsPath, "/"), srv.docsInfo(http.HandlerFunc(docsRedirect)))
	mux.Handle("GET "+DocsPath, srv.docsInfo(http.HandlerFunc(serveDocs)))
	mux.Handle("GET /{$}", srv.docsInfo(http.HandlerFunc(rootRedirect)))
	mux.Handle("GET "+BasePath, srv.routeInfo(Route{Method: http.MethodGet, Path: "/"}, srv.handleIndex()))
}

// docsInfo records the route for the logs, like routeInfo.
func (srv *server) docsInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = "GET " + DocsPath
		next.ServeHTTP(w, r)
	})
}

// docsRedirect sends /docs to /docs/. The body is an envelope (and the
// Content-Type JSON, which also lets the redirect past the mux guard).
func docsRedirect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", DocsPath)
	body, _ := successBody(map[string]string{"location": DocsPath})
	writeBody(w, http.StatusMovedPermanently, body)
}

// rootRedirect sends / to the docs (302: the root may serve more one day).
func rootRedirect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", DocsPath)
	body, _ := successBody(map[string]string{"location": DocsPath})
	writeBody(w, http.StatusFound, body)
}

// serveDocs serves one embedded Swagger UI file; index.html for /docs/.
func serveDocs(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, DocsPath)
	if name == "" {
		name = "index.html"
	}
	ctype, known := docTypes[path.Ext(name)]
	var b []byte
	var err error
	if known && !strings.Contains(name, "/") && name != "." && name != ".." {
		b, err = swaggerUI.ReadFile("swaggerui/" + name)
	}
	if !known || b == nil || err != nil {
		writeCode(w, shop.CodeNotFound, "no route "+r.Method+" "+clip(r.URL.Path)+"; Swagger UI is at "+DocsPath)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" || name == "init.js" {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", "public, max-age=86400")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
