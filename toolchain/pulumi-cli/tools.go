//go:build tools

// Keeps the CLI's main package in this wrapper module's build graph. The
// release repository's go.mod carries local replace directives, so
// `go install …/cmd/pulumi@version` is refused; a wrapper module is the way.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
