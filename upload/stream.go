package upload

import (
	"context"
	"errors"
	"path"

	"golang.org/x/sync/errgroup"
)

// Files the destination hashed in a stream (see tar_sftp.go) are checked
// in batches of up to these sizes while the stream goes on.
const (
	verifyBatchBytes = 32 << 20
	verifyBatchFiles = 256
)

// splitFresh takes the files sent from their start out of groups; what is
// left (resumed files) keeps going over put.
func splitFresh(groups [][]job) (rest [][]job, fresh []job) {
	for _, grp := range groups {
		var keep []job
		for _, j := range grp {
			if j.offset == 0 {
				fresh = append(fresh, j)
			} else {
				keep = append(keep, j)
			}
		}
		if len(keep) > 0 {
			rest = append(rest, keep)
		}
	}
	return rest, fresh
}

// sendStream sends new files as one stream through s and checks the
// destination's hash of each against the expected one as it comes back
// (mismatches are settled as for put). It reports whether the destination
// flushed everything after the last file. An error matching
// errStreamStart means nothing was sent.
func (p *publisher) sendStream(ctx context.Context, b backend, s streamer, jobs []job, add func(Stats), prog *progress) (bool, error) {
	type stored struct {
		grp []job
		res []putResult
	}
	// Unbounded: the stream must never wait for verification.
	toVerify := make(chan stored, len(jobs)+1)
	var batch stored
	var batchBytes int64
	flush := func() {
		if len(batch.grp) > 0 {
			toVerify <- batch
			batch, batchBytes = stored{}, 0
		}
	}
	files := make([]streamFile, len(jobs))
	for i, j := range jobs {
		_, listed := p.listed(j.f)
		files[i] = streamFile{f: j.f, hashLocal: !listed}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for st := range toVerify {
			local := Stats{Streamed: len(st.grp)}
			for i, j := range st.grp {
				p.sent(j.f, &st.res[i], &local)
			}
			err := p.verifyGroup(gctx, b, st.grp, st.res, &local, prog)
			add(local)
			if err != nil {
				return err
			}
		}
		return nil
	})
	var sent int64
	n, flushed, err := s.stream(gctx, p.partial, files, p.fileMode, p.counter(&sent, prog), func(i int, r putResult) {
		j := jobs[i]
		batch.grp = append(batch.grp, j)
		batch.res = append(batch.res, r)
		batchBytes += j.f.size
		if batchBytes >= verifyBatchBytes || len(batch.grp) >= verifyBatchFiles || i < tarHashN {
			flush()
		}
	})
	add(Stats{Sent: sent})
	if err == nil {
		flush()
	}
	close(toVerify)
	verr := g.Wait()
	switch {
	case verr != nil:
		return false, verr // it stopped the stream, if that failed too
	case errors.Is(err, errStreamStart):
		return false, err
	case err != nil:
		rel := jobs[min(n, len(jobs)-1)].f.rel
		return false, p.fail(b, "upload "+rel+" to", path.Join(p.partial, rel), err)
	}
	return flushed, nil
}
