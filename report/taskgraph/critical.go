package taskgraph

// LongestPath finds the chain of dependent tasks with the largest total
// weight (the critical path when weights are elapsed times). weight also
// says whether the task waited for its dependencies: one restored from sstate
// (setscene) or not run at all did not, so a chain cannot run through it;
// it can only start there. The path is returned first-run first. Ties go to the lexically smaller node ID so the
// result does not depend on file order. bitbake never writes cycles, but a
// damaged file might: an edge that closes a cycle is ignored and counted.
func (g *Graph) LongestPath(weight func(node int) (w float64, waited bool)) (path []int, total float64, cyclesBroken int) {
	n := len(g.Nodes)
	if n == 0 {
		return nil, 0, 0
	}
	const (
		unseen = iota
		active
		done
	)
	state := make([]uint8, n)
	dist := make([]float64, n)
	best := make([]int32, n)
	type frame struct {
		node int32
		next int // index into Deps[node] of the next dependency to visit
	}
	var stack []frame
	for root := range n {
		if state[root] != unseen {
			continue
		}
		stack = append(stack[:0], frame{node: int32(root)})
		state[root] = active
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			deps := g.Deps[top.node]
			if top.next < len(deps) {
				d := deps[top.next]
				top.next++
				switch state[d] {
				case unseen:
					state[d] = active
					stack = append(stack, frame{node: d})
				case active:
					cyclesBroken++
				}
				continue
			}
			// All dependencies are final: settle this node.
			v := top.node
			best[v] = -1
			var longest float64
			w, waited := weight(int(v))
			if !waited {
				deps = nil
			}
			for _, d := range deps {
				if state[d] != done {
					continue // the back edge of a broken cycle
				}
				if best[v] < 0 || dist[d] > longest || (dist[d] == longest && g.Nodes[d].ID < g.Nodes[best[v]].ID) {
					longest, best[v] = dist[d], d
				}
			}
			if w < 0 || w != w {
				w = 0
			}
			dist[v] = longest + w
			state[v] = done
			stack = stack[:len(stack)-1]
		}
	}
	end := 0
	for i := 1; i < n; i++ {
		if dist[i] > dist[end] || (dist[i] == dist[end] && g.Nodes[i].ID < g.Nodes[end].ID) {
			end = i
		}
	}
	total = dist[end]
	for v := int32(end); v >= 0; v = best[v] {
		path = append(path, int(v))
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path, total, cyclesBroken
}
