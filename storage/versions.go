package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/fair-acc/fecdeploy/index"
)

// Versions lists the published versions of a software or configuration
// (the folders under <kind>/<name>/), in byte order; the version package
// orders them semantically. ErrNotFound when nothing of that name exists.
func (s *Storage) Versions(ctx context.Context, kind index.Kind, name string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.versions(kind, name)
}

func (s *Storage) versions(kind index.Kind, name string) ([]string, error) {
	p, err := s.absFor(treePathSpec{kind, name})
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no %s %q is published", ErrNotFound, kind, name)
		}
		return nil, fmt.Errorf("storage: listing versions of %s %s: %w", kind, name, err)
	}
	var vs []string
	for _, e := range ents {
		if e.IsDir() && index.CheckName("version", e.Name()) == nil {
			vs = append(vs, e.Name())
		}
	}
	sort.Strings(vs)
	return vs, nil
}
