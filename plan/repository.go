package plan

import (
	"strings"

	"github.com/xtbuild/xtbuild/config"
)

// RepoFile is one image of the signed repository, resolved from a
// [[repository]] entry (a line of bordel's images-manifest) by bordel's
// stage rules.
type RepoFile struct {
	Step    string `json:"step"`
	Machine string `json:"machine"`
	ID      string `json:"id"`     // XC-PACKAGES image id
	Format  string `json:"format"` // XC-PACKAGES format: tarbz2, ext3gz, vhdgz, gz, file
	Deploy  string `json:"deploy"` // source, relative to the deploy dir
	File    string `json:"file"`   // name in raw/ and in packages.main/
	Mount   string `json:"mount"`  // where the installer puts it on the device
}

// Repository resolves the configured [[repository]] entries, in order.
// The rules are bordel's stage_repository: the deploy file is
// images/<machine>/<source>-<machine>.<type> (control.<type> for the
// control tarball), the repository file <destination>.<type>, and the
// format follows the type. An entry with id "file" is a plain file: it is
// named <destination>.<format> (just <destination> for format file) and
// its mount point is <mount>/<destination>, written as bordel writes it.
func Repository(c *config.Config) []RepoFile {
	var out []RepoFile
	for _, r := range c.Repo {
		machine := c.Steps[r.Step].Machine
		f := RepoFile{Step: r.Step, Machine: machine, ID: r.ID, Format: repoFormat(r), Mount: r.Mount}
		src := r.Source + "-" + machine + "." + r.Type
		if r.Source == "control" {
			src = r.Source + "." + r.Type
		}
		f.Deploy = "images/" + machine + "/" + src
		f.File = r.Destination + "." + r.Type
		if r.ID == "file" {
			f.File = r.Destination + "." + f.Format
			if f.Format == "file" {
				f.File = r.Destination
			}
			f.Mount = r.Mount + "/" + r.Destination
		}
		out = append(out, f)
	}
	return out
}

// repoFormat is the XC-PACKAGES format of an image type (bordel's case).
func repoFormat(r config.RepoImage) string {
	switch t := r.Type; {
	case t == "tar.bz2":
		return "tarbz2"
	case t == "ext3.gz":
		return "ext3gz"
	case strings.HasSuffix(t, ".vhd.gz"):
		if r.ID == "file" {
			return "gz"
		}
		return "vhdgz"
	case strings.HasSuffix(t, ".gz"):
		return "gz"
	default:
		return "file"
	}
}
