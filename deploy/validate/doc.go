// Package validate checks deploy/ without a container engine or a cluster, neither of
// which this project's machines have: the Dockerfile's build as the Dockerfile runs it,
// deploy/compose.yaml through compose-go (the library `docker compose config` is built
// on), and deploy/k8s decoded strictly into the Kubernetes API's own types.
//
// It is a module of its own so that onestop's module does not carry compose-go and
// k8s.io/api; it reaches onestop's loaders through a replace directive.
//
//	cd deploy/validate && go test ./...        # -short skips the ~90 s binary build
//	go test -run TestK8sDataConfigMaps -update # rewrite the ConfigMaps from the demo data
package validate
