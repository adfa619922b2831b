package config

import (
	"fmt"
	"path"
	"strings"
)

// validateFiles checks the files section and returns its entries cleaned
// (path.Clean; Validate stores them so): each must be absolute, given once, and not inside another
// entry (a directory entry already holds everything below it).
func validateFiles(v *validator, files []string) []string {
	if len(files) == 0 {
		return files
	}
	out := make([]string, len(files))
	for i, f := range files {
		p := fmt.Sprintf("files[%d]", i)
		out[i] = f
		switch {
		case f == "":
			v.add(p, "empty: give an absolute path, such as /home/mastodon/live/.env.production")
			continue
		case strings.ContainsRune(f, 0):
			v.add(p, "holds a NUL byte")
			continue
		case !path.IsAbs(f):
			v.add(p, "%q is not an absolute path: give it from /, such as /home/mastodon/live/.env.production", f)
			continue
		}
		out[i] = path.Clean(f)
		if out[i] == "/" {
			v.add(p, "/ is the whole file system: list the files and directories to back up")
			out[i] = f
			continue
		}
		for j := range i {
			if !path.IsAbs(out[j]) {
				continue
			}
			switch {
			case out[j] == out[i]:
				v.add(p, "%s is given twice (files[%d])", out[i], j)
			case inside(out[i], out[j]):
				v.add(p, "%s is inside files[%d] (%s), which holds it already: remove one", out[i], j, out[j])
			case inside(out[j], out[i]):
				v.add(p, "%s holds files[%d] (%s) already: remove one", out[i], j, out[j])
			}
		}
	}
	return out
}

// inside reports whether p is below dir (both clean and absolute).
func inside(p, dir string) bool {
	return dir == "/" || strings.HasPrefix(p, dir+"/")
}
