package notify

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// TestAllStatusesListsEveryConstant keeps allStatuses in step with the Status
// constants declared in event.go: a status added there and not to the list
// would have no metric attributes.
func TestAllStatusesListsEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Status" {
				for _, v := range vs.Values {
					lit, err := strconv.Unquote(v.(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					declared = append(declared, lit)
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no Status constants in event.go")
	}
	listed := make([]string, 0, len(allStatuses))
	for _, s := range allStatuses {
		listed = append(listed, string(s))
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Errorf("event.go declares the statuses %v; allStatuses lists %v", declared, listed)
	}
}
