// Package deploy validates the deployment artefacts beside it: the kustomize bases and overlays under
// kubernetes/ are built with the kustomize API and every object is decoded strictly into its Kubernetes type
// and checked against the logrouter binary's flags and the Vector configuration. It is its own module so that
// the main module does not depend on kustomize or k8s.io/api. It has no Go API.
package deploy
