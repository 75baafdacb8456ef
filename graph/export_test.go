package graph

// DirectAnswers is how many operations the direct path answered so far.
func DirectAnswers() int64 { return directAnswers.Load() }
