package cli

import (
	"context"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/storage"
)

// FECView is what fecctl ls and show print for one FEC; its JSON form is
// part of fecctl's output contract.
type FECView struct {
	Name     string        `json:"fec"`
	Arch     string        `json:"arch"`
	Decoders []string      `json:"decoders"`
	Entries  []index.Entry `json:"entries"`
	Error    string        `json:"error,omitempty"` // why its INDEX cannot be built
}

// NewFECView summarises a FEC of the storage.
func NewFECView(in storage.FECInfo) FECView {
	v := FECView{Name: in.Name, Arch: in.Config.Arch, Decoders: in.Config.Decoders, Entries: in.Entries}
	if in.IndexError != nil {
		v.Error = in.IndexError.Error()
	}
	return v
}

// FECViews summarises every FEC of st, in name order. A FEC whose INDEX
// cannot be built is listed with the reason in Error, not dropped.
func FECViews(ctx context.Context, st *storage.Storage) ([]FECView, error) {
	names, err := st.FECs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]FECView, 0, len(names))
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := st.FEC(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, NewFECView(info))
	}
	return out, nil
}
