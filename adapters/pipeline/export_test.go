package pipeline

// SetRebuildCommitEvery sets how many events a rebuild folds between commits
// (tests make it small, to write many batches) and returns the restore.
func SetRebuildCommitEvery(n int) func() {
	old := rebuildCommitEvery
	rebuildCommitEvery = n
	return func() { rebuildCommitEvery = old }
}
