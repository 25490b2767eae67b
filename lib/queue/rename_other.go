//go:build !linux

package queue

// renameNoReplace renames old to new unless new exists (fs.ErrExist): a
// check, then a plain rename.
func renameNoReplace(old, new string) error { return renameChecked(old, new) }
