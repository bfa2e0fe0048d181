package steps

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/recipes"
)

// ToolsLayer generates the layer that bakes the xt tools into images
// (recipes/) from the config: the images named in [recipes.images], the source (git at the checkout's HEAD, or the local
// checkout), and the vendored Go modules tarball filed into the mirror.
func ToolsLayer(ctx context.Context, e *Env) ([]string, error) {
	c := e.Config
	r := c.Recipes
	root := r.LocalPath
	if root == "" {
		root = c.Source.Dir
	}
	root = c.Abs(root)
	mirror := c.Abs(c.Paths.Mirror)
	vf, ok, err := recipes.VendorTarball(ctx, filepath.Join(root, recipes.ModuleDir), mirror)
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	opts := recipes.Options{
		Dir:          ToolsLayerDir(c),
		Release:      c.Build.Release,
		Images:       toolImages(c),
		ModuleRoot:   root,
		LicenseFile:  r.LicenseFile,
		License:      r.License,
		Version:      r.Version,
		Priority:     r.Priority,
		LayerDepends: r.LayerDepends,
		Source:       recipes.Source{Kind: recipes.SourceKind(r.Source), URL: r.URL, Branch: r.Branch, LocalPath: root},
	}
	if ok {
		base := r.VendorURL
		if base == "" {
			base = "file://" + mirror
		}
		opts.Vendor = recipes.Vendor{URL: strings.TrimSuffix(base, "/") + "/" + vf.Name, SHA256: vf.SHA256, Licenses: vf.Licenses}
	}
	if opts.Source.Kind == recipes.SourceGit {
		rev, dirty, err := recipes.HeadCommit(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("recipes: %w", err)
		}
		if dirty {
			e.Log.Warn("the xtbuild checkout has uncommitted changes; the recipe builds the committed HEAD", "dir", root, "srcrev", rev)
		}
		opts.Source.SRCREV = rev
	}
	return recipes.Generate(ctx, opts)
}

// ToolsLayerDir is the generated layer's directory.
func ToolsLayerDir(c *config.Config) string {
	if filepath.IsAbs(c.Recipes.Dir) {
		return c.Recipes.Dir
	}
	return filepath.Join(c.BuildDir(), c.Recipes.Dir)
}

// toolImages is the image map of this build's tools layer: [recipes.images]
// (for a board build, config.ForBoard has made it the board's image alone).
// Boards' tools are not added: each board has its own build dir and tools
// layer, and an append for an image the build does not have would dangle.
func toolImages(c *config.Config) map[string][]string {
	out := map[string][]string{}
	for img, tools := range c.Recipes.Images {
		t := append([]string{}, tools...)
		sort.Strings(t)
		out[img] = t
	}
	return out
}
