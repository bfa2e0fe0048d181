package provenance

import ita "github.com/in-toto/attestation/go/v1"

// Dependency exposes dependency to the external tests (provenance_test),
// which run whole builds through the pipeline (which imports this package).
func (d *Document) Dependency(name string) *ita.ResourceDescriptor { return d.dependency(name) }

// Resource name prefixes, for the external tests.
const (
	PrefixLayer  = prefixLayer
	PrefixMirror = prefixMirror
	PrefixACM    = prefixACM
	PrefixCert   = prefixCert
	LockResource = lockResource
)

// External and Internal expose the parameter accessors.
func (d *Document) External(key string) string { return d.external(key) }
func (d *Document) Internal(key string) string { return d.internal(key) }
