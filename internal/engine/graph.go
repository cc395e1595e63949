package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errSkipped marks a node that did not run because something it waits for failed, was
// itself skipped, or the run was stopped.
var errSkipped = errors.New("skipped")

// skippedFor is errSkipped naming the node waited for, so that a report can say why a
// node was not visited.
func skippedFor(node string, err error) error {
	if errors.Is(err, errSkipped) {
		return fmt.Errorf("%w: waits for %s, which was skipped", errSkipped, node)
	}
	return fmt.Errorf("%w: waits for %s, which failed", errSkipped, node)
}

// graph is a set of nodes and, for each, the nodes it must wait for.
type graph struct {
	order []string // a topological order, stable with respect to declaration order
	waits map[string][]string
}

// newGraph checks that every edge names a node and that there is no cycle.
func newGraph(nodes []string, waits map[string][]string) (*graph, error) {
	known := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if known[n] {
			return nil, fmt.Errorf("resource %s is declared twice", n)
		}
		known[n] = true
	}
	for _, n := range nodes {
		for _, w := range waits[n] {
			if !known[w] {
				return nil, fmt.Errorf("resource %s depends on %s, which is not declared", n, w)
			}
		}
	}
	g := &graph{waits: waits}
	const (
		unvisited = iota
		visiting
		visited
	)
	mark := make(map[string]int, len(nodes))
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch mark[n] {
		case visiting:
			return fmt.Errorf("dependency cycle: %v", append(path, n))
		case visited:
			return nil
		}
		mark[n] = visiting
		for _, w := range waits[n] {
			if err := visit(w, append(append([]string(nil), path...), n)); err != nil {
				return err
			}
		}
		mark[n] = visited
		g.order = append(g.order, n)
		return nil
	}
	for _, n := range nodes {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// reversed is the graph for teardown: a node waits for everything that waited for it.
func (g *graph) reversed() *graph {
	waits := make(map[string][]string, len(g.order))
	for _, n := range g.order {
		for _, w := range g.waits[n] {
			waits[w] = append(waits[w], n)
		}
	}
	order := make([]string, len(g.order))
	for i, n := range g.order {
		order[len(order)-1-i] = n
	}
	return &graph{order: order, waits: waits}
}

// walk runs visit for every node once all the nodes it waits for have succeeded, at most
// limit at a time. A failed node's dependents are not visited (errSkipped, naming it), while
// independent nodes carry on. Once ctx is done or stop reports true, nodes not yet started
// are skipped; running ones finish.
func (g *graph) walk(ctx context.Context, limit int, stop func() bool, visit func(ctx context.Context, node string) error) map[string]error {
	if limit < 1 {
		limit = 1
	}
	done := make(map[string]chan struct{}, len(g.order))
	for _, n := range g.order {
		done[n] = make(chan struct{})
	}
	var mu sync.Mutex
	results := make(map[string]error, len(g.order))
	result := func(n string) error {
		mu.Lock()
		defer mu.Unlock()
		return results[n]
	}
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, n := range g.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[n])
			var err error
			for _, w := range g.waits[n] {
				<-done[w]
				if werr := result(w); werr != nil && err == nil {
					err = skippedFor(w, werr)
				}
			}
			if err == nil {
				slots <- struct{}{}
				if ctx.Err() != nil || stop() {
					err = errSkipped
				} else {
					err = visit(ctx, n)
				}
				<-slots
			}
			mu.Lock()
			results[n] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}
