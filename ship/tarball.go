package ship

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// writeTar writes es as a reproducible tar: lexical order, root:root,
// normalised modes, every time set to epoch, no host user names.
func writeTar(ctx context.Context, w io.Writer, es []entry, epoch time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &tar.Header{
			Name: e.rel, ModTime: epoch, Uname: "root", Gname: "root",
			Format: tar.FormatUSTAR,
		}
		if len(e.rel) > 100 {
			// USTAR cannot hold it; PAX can, and stays deterministic since
			// only the path record is added.
			h.Format = tar.FormatPAX
		}
		switch {
		case e.dir:
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, e.rel+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		case e.exec:
			h.Mode = 0o755
		default:
			h.Mode = 0o644
		}
		h.Typeflag = tar.TypeReg
		if e.data != nil {
			h.Size = int64(len(e.data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(e.src)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		h.Size = st.Size()
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		n, err := io.Copy(tw, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("tar %s: %w", e.src, err)
		}
		if n != h.Size {
			return fmt.Errorf("tar %s: file changed size while archiving", e.src)
		}
	}
	return tw.Close()
}

// writeTarGz is writeTar through gzip -9 with no name or time in the gzip
// header, so the bytes depend only on the content.
func writeTarGz(ctx context.Context, w io.Writer, es []entry, epoch time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writeTar(ctx, zw, es, epoch); err != nil {
		return err
	}
	return zw.Close()
}
