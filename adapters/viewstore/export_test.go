package viewstore

// BackgroundWork says how many flushes and compactions the store has done
// and whether one is running: a test copying the directory of a store still
// open (as a kill -9 leaves it) copies while none runs, so that the copy is
// the directory at one moment.
func BackgroundWork(s *Store) (done int64, running bool) {
	m := s.db.Metrics()
	return m.Compact.Count + m.Flush.Count, m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0
}
