package phasetest

import (
	"slices"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
)

func LastCallIndex(rec *awsclients.Recorder, from int, op string) int {
	calls := rec.Calls()
	for i := len(calls) - 1; i >= from; i-- {
		if calls[i].Service+"."+calls[i].Operation == op {
			return i
		}
	}
	return -1
}

func CountCalls(rec *awsclients.Recorder, from int, op string) int {
	n := 0
	for _, c := range rec.Calls()[from:] {
		if c.Service+"."+c.Operation == op {
			n++
		}
	}
	return n
}

func (tr *CallTrace) NonEmpty() []string {
	return slices.DeleteFunc(tr.All(), func(s string) bool { return s == "" })
}
