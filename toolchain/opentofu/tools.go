//go:build tools

// Keeps OpenTofu's main package in this wrapper module's build graph: its go.mod carries a
// replace directive, so `go install …/cmd/tofu@version` is refused; a wrapper module is the way.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
