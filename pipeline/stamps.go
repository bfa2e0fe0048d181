package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/steps"
)

// Resume stamps: a step that finished writes one; its key covers the
// config, the exact layer commits and the step's own definition.

// stampKey identifies what a step's completion depended on: the config,
// the exact layer commits, and the step's own definition.
func stampKey(c *config.Config, s plan.Step) string {
	h := sha256.New()
	// Whether the step was asked for or pulled in as a dependency does not
	// change what it built.
	s.Requested = false
	def, _ := json.Marshal(s)
	fmt.Fprintf(h, "%s\n%s\n%s\n", c.Source.Hash, lockHash(c), def)
	return hex.EncodeToString(h.Sum(nil))
}

func lockHash(c *config.Config) string {
	data, err := os.ReadFile(c.LockFile())
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type stamp struct {
	Key      string    `json:"key"`
	Finished time.Time `json:"finished"`
	// Worker built the step: this host's XTBUILD_WORKER (or host name), or
	// the worker that published it to the stage tree when it was restored
	// from there.
	Worker string `json:"worker,omitempty"`
}

func stampPath(c *config.Config, step string) string {
	return filepath.Join(c.BuildDir(), steps.StateDir, "stamps", step+".json")
}

func stampValid(c *config.Config, step, key string) bool {
	data, err := os.ReadFile(stampPath(c, step))
	if err != nil {
		return false
	}
	var s stamp
	return json.Unmarshal(data, &s) == nil && s.Key == key
}

// stampWorker is the worker a step's stamp names ("" without a stamp).
func stampWorker(c *config.Config, step string) string {
	data, err := os.ReadFile(stampPath(c, step))
	if err != nil {
		return ""
	}
	var s stamp
	json.Unmarshal(data, &s)
	return s.Worker
}

func writeStamp(c *config.Config, step, key, worker string) error {
	p := stampPath(c, step)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, _ := json.Marshal(stamp{Key: key, Finished: time.Now().UTC(), Worker: worker})
	return atomicfile.WriteFile(p, data, 0o644)
}

func removeStamp(c *config.Config, step string) { os.Remove(stampPath(c, step)) }
