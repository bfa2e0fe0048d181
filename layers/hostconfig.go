package layers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	gitcfg "github.com/go-git/go-git/v5/plumbing/format/config"
)

// hostConfig says what the user's and the system's git configuration let
// xtbuild do in process instead of running C git. Both are false whenever
// git would read configuration xtbuild cannot see (from the environment,
// through an include) or a file it cannot parse.
type hostConfig struct {
	// checkout: git would check out a plain tree exactly as checkoutFresh
	// does: no global attributes file and none of the settings that change
	// what a checkout writes (eol conversion, symlinks as files, sparse
	// checkout, another index format, fsmonitor, smudge filters, untracked
	// cache).
	checkout bool
	// fetch: git would fetch from a local repository or a git daemon as
	// fetchWire does: no URL rewriting (insteadOf), no protocol
	// restrictions, no fsck of received objects, no proxy command for
	// git://, no shared-repository permissions, no remote settings from the
	// global configuration. Other fetch settings (fetch.prune,
	// protocol.version, ...) change nothing in a fetch into an empty
	// repository.
	fetch bool
}

// readHostConfig reads git's system, global and XDG configuration; getenv
// is os.Getenv.
func readHostConfig(getenv func(string) string) hostConfig {
	hc := hostConfig{checkout: true, fetch: true}
	// Configuration and repository location from the environment.
	for _, v := range []string{"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"} {
		if getenv(v) != "" {
			return hostConfig{}
		}
	}
	for _, v := range []string{"GIT_INDEX_VERSION", "GIT_ATTR_SOURCE"} {
		if getenv(v) != "" {
			hc.checkout = false
		}
	}
	for _, v := range []string{"GIT_ALLOW_PROTOCOL", "GIT_PROTOCOL_FROM_USER", "GIT_PROXY_COMMAND", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_SHALLOW_FILE", "GIT_QUARANTINE_PATH", "GIT_NAMESPACE"} {
		if getenv(v) != "" {
			hc.fetch = false
		}
	}
	home := getenv("HOME")
	xdg := getenv("XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	if xdg != "" {
		if _, err := os.Stat(filepath.Join(xdg, "git", "attributes")); err == nil {
			hc.checkout = false
		}
	}
	files := []string{"/etc/gitconfig"}
	if xdg != "" {
		files = append(files, filepath.Join(xdg, "git", "config"))
	}
	if home != "" {
		files = append(files, filepath.Join(home, ".gitconfig"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return hostConfig{}
		}
		one := configPlain(data)
		hc.checkout = hc.checkout && one.checkout
		hc.fetch = hc.fetch && one.fetch
	}
	return hc
}

// configPlain checks one git config file for what readHostConfig looks
// for.
func configPlain(data []byte) hostConfig {
	cfg := gitcfg.New()
	if err := gitcfg.NewDecoder(strings.NewReader(string(data))).Decode(cfg); err != nil {
		return hostConfig{}
	}
	hc := hostConfig{checkout: true, fetch: true}
	for _, s := range cfg.Sections {
		switch strings.ToLower(s.Name) {
		case "include", "includeif", "extensions":
			return hostConfig{}
		case "filter", "index", "feature", "checkout":
			hc.checkout = false
		case "url", "remote", "fsck":
			hc.fetch = false
		case "fetch", "transfer":
			// fsck of what arrives (fsckObjects, fsck.<msg-id>); settings
			// such as fetch.prune do not change a fetch into an empty
			// repository.
			for _, o := range s.Options {
				if strings.EqualFold(o.Key, "fsckobjects") {
					hc.fetch = false
				}
			}
			for _, sub := range s.Subsections {
				if strings.EqualFold(sub.Name, "fsck") {
					hc.fetch = false
				}
			}
		case "protocol":
			// protocol.allow and protocol.<name>.allow restrict transports;
			// protocol.version picks a version, and gitwire speaks 2.
			for _, o := range s.Options {
				if !strings.EqualFold(o.Key, "version") {
					hc.fetch = false
				}
			}
			if len(s.Subsections) > 0 {
				hc.fetch = false
			}
		case "core":
			for _, o := range s.Options {
				switch strings.ToLower(o.Key) {
				case "autocrlf", "eol", "symlinks", "sparsecheckout", "sparsecheckoutcone", "attributesfile",
					"fsmonitor", "untrackedcache", "splitindex", "checkroundtripencoding", "worktree", "precomposeunicode":
					hc.checkout = false
				case "gitproxy", "sharedrepository":
					hc.fetch = false
				}
			}
		}
	}
	return hc
}
