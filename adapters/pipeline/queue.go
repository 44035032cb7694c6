package pipeline

import (
	"container/heap"
	"time"
)

// dueEntry is one delivery waiting in the due-time queue. Entries are never
// updated in place: a changed delivery gets a new entry, and an entry whose
// version no longer matches the view is dropped when popped.
type dueEntry struct {
	due     time.Time
	id      string
	version uint64
}

type dueQueue []dueEntry

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].id < q[j].id
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func (q *dueQueue) push(e dueEntry) { heap.Push(q, e) }
func (q *dueQueue) pop() dueEntry   { return heap.Pop(q).(dueEntry) }
