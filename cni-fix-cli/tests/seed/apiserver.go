// A Kubernetes API server that serves one pod list and the discovery documents kubectl needs
// to ask for it, so that the real kubectl can run the documentation's jsonpath line
// (`kubectl get pods --all-namespaces -o=jsonpath=…`) over test fixtures.
//
// Usage: apiserver PODS.json ADDR-FILE. It listens on 127.0.0.1 (an ephemeral port), writes
// its address to ADDR-FILE, and serves until it is killed.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

const apiVersions = `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}`
const apiGroups = `{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`
const v1Resources = `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]}]}`

func main() {
	pods, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[2], []byte(ln.Addr().String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serve := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api", serve(apiVersions))
	mux.HandleFunc("/apis", serve(apiGroups))
	mux.HandleFunc("/api/v1", serve(v1Resources))
	mux.HandleFunc("/api/v1/pods", serve(string(pods)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "not served:", r.URL.String())
		http.NotFound(w, r)
	})
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
